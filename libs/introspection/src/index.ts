export * from './introspector';
export * from './router';
export * from './decision_log';
