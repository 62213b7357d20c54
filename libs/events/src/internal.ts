// Test support of @ctp/events (the ./internal subpath): names only specs and fault suites import.
export { DECISIONS_SUBJECT } from './introspection';
