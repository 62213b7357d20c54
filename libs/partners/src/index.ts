export * from './api_key';
export * from './registry';
export * from './auditors';
export * from './signing_keys';
