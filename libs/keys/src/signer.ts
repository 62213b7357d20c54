import { createPublicKey, sign, type KeyObject } from 'node:crypto';
import { signEs256Bytes, type Es256PublicJwk } from '@ctp/ctp-core';
import type { VerificationKeys } from './verification_keys';

export type SignatureAlgorithm = 'ES256' | 'Ed25519' | 'ML-DSA-65';

/**
 * One signing key, wherever its private half lives (a local file, Cloud KMS).
 * `sign` is async because a remote key answers over the network.
 */
export interface Signer {
  /** The id verifiers look the public key up by (JWS `kid`). */
  readonly kid: string;
  readonly alg: SignatureAlgorithm;
  readonly publicKey: KeyObject;
  /**
   * Signs `data`. ES256: ECDSA P-256 over SHA-256(data), returned in the JOSE form
   * r || s (64 bytes). Ed25519 and ML-DSA-65: the signature over `data` itself.
   * Rejects with SigningUnavailableError when the key cannot sign now.
   */
  sign(data: Buffer): Promise<Buffer>;
}

/** Where an issuer gets the key it signs new tokens with, and the public keys it publishes. */
export interface TokenKeys extends VerificationKeys {
  /** The signer for new tokens now (a rotation may change it). */
  signer(): Promise<Signer>;
  /** The public keys to publish: the signing key first. Never empty. */
  jwks(nowSeconds?: number): { keys: Es256PublicJwk[] };
}

/**
 * The signing key could not produce a trustworthy signature: the key service is
 * unreachable or timed out (`unavailable`), or its answer failed an integrity check
 * (`integrity`: CRC32C, echoed key name, or the signature does not verify).
 */
export class SigningUnavailableError extends Error {
  constructor(
    readonly reason: 'unavailable' | 'integrity',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SigningUnavailableError';
  }
}

function algorithmOf(publicKey: KeyObject): SignatureAlgorithm {
  if (publicKey.asymmetricKeyType === 'ec' && publicKey.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  if (publicKey.asymmetricKeyType === 'ed25519') return 'Ed25519';
  if (publicKey.asymmetricKeyType === 'ml-dsa-65') return 'ML-DSA-65';
  throw new TypeError(`unsupported signing key type ${publicKey.asymmetricKeyType}`);
}

/** A private key held in this process (node:crypto): dev, `ctp up`, and the ledger's checkpoint keys. */
export class LocalSigner implements Signer {
  readonly alg: SignatureAlgorithm;
  readonly publicKey: KeyObject;

  constructor(
    readonly kid: string,
    private readonly privateKey: KeyObject,
  ) {
    this.publicKey = createPublicKey(privateKey);
    this.alg = algorithmOf(this.publicKey);
  }

  async sign(data: Buffer): Promise<Buffer> {
    if (this.alg === 'ES256') return signEs256Bytes(data, this.privateKey);
    return sign(null, data, this.privateKey);
  }
}
