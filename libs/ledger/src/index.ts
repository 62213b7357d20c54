export * from './embedded';
export * from './events';
export * from './migrate';
export * from './router';
export * from './signers';
export * from './store';
export * from './writer';
export * from './pack_export';
