export * from './fixtures';
export * from './openapi';
export * from './processes';
export * from './servers';
export * from './sse';
export * from './private_servers';
