// Test support of @ctp/revocation (the ./internal subpath): names only specs and fault suites import.
export { MemoryRevocationStore } from './revocation_store';
export { RevocationService } from './revocation_service';
