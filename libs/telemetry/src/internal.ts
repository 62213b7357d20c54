// Test support of @ctp/telemetry (the ./internal subpath): names only specs and fault suites import.
export { registry } from './metrics';
export type { Tracing } from './tracing';
