import { createHash, createPublicKey, verify as cryptoVerify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { verifyEs256Bytes } from '@ctp/ctp-core';
import { publicSigningJwkSchema, type PublicSigningJwk, type SigningKeyEntry } from '@ctp/partners';

/**
 * The request-signing algorithms a partner key may be registered for. The key pins its algorithm:
 * a signature is verified with the registered key's algorithm only, whatever the request says.
 * Names are JOSE's (RFC 7518, RFC 9864 fully specified `Ed25519`, `ML-DSA-65` for FIPS 204).
 */
export const SIGNATURE_ALGS = ['ES256', 'Ed25519', 'ML-DSA-65'] as const;
export type SignatureAlg = (typeof SIGNATURE_ALGS)[number];
/** The classical algorithms (the `ctp` signature); ML-DSA-65 signs the second, post-quantum one. */
export const CLASSICAL_ALGS: readonly SignatureAlg[] = ['ES256', 'Ed25519'];

/** RFC 9421 section 6.2 algorithm names; ML-DSA-65 has none registered, so ours is its lowercase JOSE name. */
export const HTTPSIG_ALG: Record<SignatureAlg, string> = { ES256: 'ecdsa-p256-sha256', Ed25519: 'ed25519', 'ML-DSA-65': 'ml-dsa-65' };

export interface RegisteredKey {
  keyid: string;
  partnerId: string;
  alg: SignatureAlg;
  publicKey: KeyObject;
  /** RFC 7638 JWK thumbprint (sha-256, base64url): what a bound token's `cnf.jkt` names. */
  jkt: string;
}

export function algOf(jwk: PublicSigningJwk): SignatureAlg {
  return jwk.kty === 'EC' ? 'ES256' : jwk.kty === 'OKP' ? 'Ed25519' : 'ML-DSA-65';
}

/** RFC 7638 thumbprint over the required members in lexicographic order (for AKP: alg, kty, pub). */
export function jwkThumbprint(jwk: PublicSigningJwk): string {
  const members =
    jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : jwk.kty === 'OKP' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x } : { alg: jwk.alg, kty: jwk.kty, pub: jwk.pub };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function importPublic(jwk: PublicSigningJwk): KeyObject {
  const { kid: _kid, use: _use, ...material } = jwk;
  const jsonWebKey = (jwk.kty === 'OKP' ? { kty: jwk.kty, crv: jwk.crv, x: jwk.x } : material) as JsonWebKey;
  return createPublicKey({ key: jsonWebKey, format: 'jwk' });
}

/** Verifies `signature` over `data` with the key's own algorithm (ECDSA as IEEE P1363 r||s, as RFC 9421 section 3.3.4). */
export function verifyWith(key: Pick<RegisteredKey, 'alg' | 'publicKey'>, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (key.alg === 'ES256') return verifyEs256Bytes(data, key.publicKey, signature);
    return cryptoVerify(null, data, key.publicKey, signature);
  } catch {
    return false;
  }
}

/** The registered keys of every partner, by keyid (unique across partners). */
export class KeyRing {
  private readonly byKeyid = new Map<string, RegisteredKey>();

  constructor(entries: Iterable<{ partnerId: string } & SigningKeyEntry>) {
    for (const entry of entries) {
      const jwk = publicSigningJwkSchema.parse(entry.jwk);
      if (this.byKeyid.has(entry.kid)) throw new Error(`signing key ${entry.kid} is registered twice`);
      this.byKeyid.set(entry.kid, { keyid: entry.kid, partnerId: entry.partnerId, alg: algOf(jwk), publicKey: importPublic(jwk), jkt: jwkThumbprint(jwk) });
    }
  }

  get(keyid: string): RegisteredKey | undefined {
    return this.byKeyid.get(keyid);
  }

  get size(): number {
    return this.byKeyid.size;
  }
}
