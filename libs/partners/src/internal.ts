// Test support of @ctp/partners (the ./internal subpath): names only specs and fault suites import.
export { DEMO_PARTNER } from './registry';
