export { JwksClient } from './jwks_client';
export { KeyDirectory, loadOrCreateSecret } from './key_directory';
export { openTokenKeys, type TokenKeyOptions } from './kms';
export { SigningUnavailableError, type TokenKeys } from './signer';
export { type KeyChange, KeyChanges } from './key_changes';
export { KeyRevocationWatch, type RevokedKeys } from './key_revocations';
export {
  CHANGE_ID,
  generateOperatorKey,
  KEY_CHANGE_ACTIONS,
  type KeyChangeAction,
  KID,
  loadOperatorKey,
  OPERATOR_ID,
  OperatorRegistry,
  signStatement,
} from './operators';
export type { VerificationKeys } from './verification_keys';
