export * from './jwks_client';
export * from './key_directory';
export * from './key_states';
export * from './key_changes';
export * from './key_revocations';
export * from './operators';
export * from './verification_keys';
