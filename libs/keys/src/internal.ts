// Test support of @ctp/keys (the ./internal subpath): names only specs and fault suites import.
export { createKmsClient, KmsKeys, kmsKid } from './kms';
export { DEFAULT_PRE_PUBLISH_SECONDS } from './key_states';
export type { ApprovalStatement } from './operators';
