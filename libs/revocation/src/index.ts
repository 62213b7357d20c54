export type { RevocationList } from './revocation_list';
export { revocationStore, type RevocationStore } from './revocation_store';
export { RevocationSync } from './revocation_sync';
export { TokenOwnerRegistry } from './token_owners';
export { startRevocation } from './service';
