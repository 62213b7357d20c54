export * from './feed';
export * from './revocation_list';
export * from './revocation_service';
export * from './revocation_store';
export * from './revocation_sync';
export * from './router';
export * from './token_owners';
export * from './websocket';
