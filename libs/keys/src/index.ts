export * from './crc32c';
export * from './ecdsa_der';
export * from './jwks_client';
export * from './key_directory';
export * from './kms';
export * from './signer';
export * from './verification_keys';
