export * from './metrics';
export * from './trace_context';
export * from './tracing';
