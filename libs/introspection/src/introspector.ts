import { createHash } from 'node:crypto';
import {
  consentClaimsSchema,
  ContextHashMemo,
  decodeCompactJws,
  decodeJwsPayload,
  denyUnverified,
  validateClaims,
  verifyJwsSignature,
  type ConsentClaims,
  type ContextEnvelope,
  type IntrospectionResult,
} from '@ctp/ctp-core';
import type { RevokedKeys, VerificationKeys } from '@ctp/keys';
import type { RevocationList } from '@ctp/revocation';

export interface IntrospectorOptions {
  keys: VerificationKeys;
  issuer: string;
  revocations: RevocationList;
  /** Emergency key revocations (pushed over the bus): a revoked kid is denied even while its key is cached. */
  revokedKeys?: RevokedKeys;
  /** Verified tokens kept; the oldest leaves first. */
  cacheSize?: number;
}

interface Verified {
  kid: string;
  claims: ConsentClaims;
}

/**
 * Decides /introspect. Signature checks are cached by token digest until the token
 * expires; everything that can change (time, revocation, the envelope, whether the
 * key is still published) is checked on every call.
 */
export class Introspector {
  private readonly verified = new Map<string, Verified>();
  private readonly cacheSize: number;
  private readonly contextHashes = new ContextHashMemo();

  constructor(private readonly options: IntrospectorOptions) {
    this.cacheSize = options.cacheSize ?? 100_000;
  }

  async introspect(token: string, envelope: ContextEnvelope, nowMs = Date.now()): Promise<IntrospectionResult> {
    const nowSeconds = Math.floor(nowMs / 1000);
    const digest = createHash('sha256').update(token).digest('base64url');
    let entry = this.verified.get(digest);
    if (entry && this.options.revokedKeys?.isKeyRevoked(entry.kid)) return denyUnverified('key_revoked');
    if (entry && !this.options.keys.cached(entry.kid)) {
      this.verified.delete(digest);
      entry = undefined;
    }
    if (!entry) {
      const outcome = await this.verify(token);
      if ('reason' in outcome) return denyUnverified(outcome.reason);
      entry = outcome;
      if (this.verified.size >= this.cacheSize) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(digest, entry);
    }
    const result = validateClaims(entry.claims, envelope, {
      issuer: this.options.issuer,
      nowSeconds,
      isRevoked: (jti) => this.options.revocations.isRevoked(jti),
      revocationsFresh: this.options.revocations.fresh,
      envelopeHash: this.contextHashes.hash(envelope),
    });
    if (result.reason === 'expired') this.verified.delete(digest);
    return result;
  }

  get cachedTokens(): number {
    return this.verified.size;
  }

  private async verify(token: string): Promise<Verified | { reason: Parameters<typeof denyUnverified>[0] }> {
    const decoded = decodeCompactJws(token);
    if (!decoded.ok) return { reason: decoded.reason };
    const { jws } = decoded;
    if (this.options.revokedKeys?.isKeyRevoked(jws.header.kid)) return { reason: 'key_revoked' };
    const key = await this.options.keys.resolve(jws.header.kid);
    if (!key) return { reason: 'unknown_kid' };
    if (!verifyJwsSignature(jws, key)) return { reason: 'bad_signature' };
    const payload = decodeJwsPayload(jws);
    if (!payload) return { reason: 'malformed' };
    const claims = consentClaimsSchema.safeParse(payload);
    if (!claims.success) return { reason: 'invalid_claims' };
    return { kid: jws.header.kid, claims: claims.data };
  }
}
