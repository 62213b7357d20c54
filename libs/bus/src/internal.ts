// Test support of @ctp/bus (the ./internal subpath): names only specs and fault suites import.
export { subjectMatches } from './event_bus';
export { natsServers } from './nats_bus';
