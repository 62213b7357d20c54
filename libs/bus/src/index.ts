export * from './event_bus';
export * from './memory_bus';
export * from './nats_bus';
export * from './connect';
