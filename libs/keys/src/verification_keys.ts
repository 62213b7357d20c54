import type { KeyObject } from 'node:crypto';

/** Where a verifier gets ES256 public keys by kid. */
export interface VerificationKeys {
  /** True once keys are available. */
  readonly ready: boolean;
  /** The key for `kid` if it is published now, without I/O. */
  cached(kid: string): KeyObject | undefined;
  /** The key for `kid`, fetching fresh keys if allowed. */
  resolve(kid: string): Promise<KeyObject | undefined>;
}
