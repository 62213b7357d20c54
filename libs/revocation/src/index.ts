export * from './crl';
export * from './feed';
export * from './revocation_list';
export * from './revocation_service';
export * from './revocation_sync';
export * from './router';
export * from './websocket';
