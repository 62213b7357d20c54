import { TOKEN_VERIFY_HORIZON_SECONDS } from '@ctp/ctp-core';

/**
 * The revoked-jti view a verifier consults. Both members are local reads: no
 * network hop on the introspection hot path.
 */
export interface RevocationList {
  isRevoked(jti: string): boolean;
  /** False when the view cannot be shown to be current; verifiers then deny (fail closed). */
  readonly fresh: boolean;
}

/** Entry lifetime when the token's own expiry is unknown: the longest a token can live. */
export function unknownTokenExpiry(nowSeconds: number): number {
  return Math.ceil(nowSeconds) + TOKEN_VERIFY_HORIZON_SECONDS;
}
