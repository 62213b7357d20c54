export * from './jwks_client';
export * from './key_directory';
export * from './verification_keys';
