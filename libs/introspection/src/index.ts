export * from './introspector';
export * from './router';
