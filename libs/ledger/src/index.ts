export { startEmbeddedPostgres } from './embedded';
export { ledgerRouter } from './router';
export { loadCheckpointSigners, loadCheckpointVerifiers } from './signers';
export { LedgerStore } from './store';
export { LedgerWriter } from './writer';
export { buildPack } from './pack_export';
export { runRetention } from './tiers/retention';
export { openLedgerStores, startLedger } from './service';
export { downloadPack, verifyPackFile } from './pack_files';
