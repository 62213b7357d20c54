export * from './fixtures';
export * from './openapi';
export * from './processes';
export * from './servers';
export * from './sse';
export * from './tls';
export * from './kms_server';
export * from './tsa';
