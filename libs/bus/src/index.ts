export type { BusEvent, BusStatus, EventBus, StreamSpec, Subscription } from './event_bus';
export { MemoryBus } from './memory_bus';
export { NatsBus } from './nats_bus';
export { connectBus } from './connect';
