export * from './api_key';
export * from './registry';
export * from './auditors';
