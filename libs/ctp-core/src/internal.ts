// Test support of @ctp/ctp-core (the ./internal subpath): names only specs and fault suites import.
export { MAX_TOKEN_LENGTH, signEs256 } from './jws';
