export * from './api_key';
export * from './registry';
