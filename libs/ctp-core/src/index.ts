export * from './errors';
export * from './envelope';
export * from './context_hash';
export * from './claims';
export * from './jws';
export * from './pseudonym';
export * from './validation';
export * from './crc32c';
