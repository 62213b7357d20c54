import { hash } from 'node:crypto';
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
  type DecisionClaims,
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
  /** Estimated bytes the verified tokens may hold (default 64 MiB); the oldest leave first. */
  cacheBytes?: number;
}

interface Verified {
  kid: string;
  claims: DecisionClaims;
  /** Estimated bytes this entry holds (key, strings, objects). */
  bytes: number;
}

/** Map entry, entry and claims objects, the scope array: a rough constant per cached token. */
const ENTRY_OVERHEAD_BYTES = 240;
/** Strings shared by many tokens (issuer, audience, purpose, scopes, kid) are kept once, up to this many. */
const MAX_SHARED_STRINGS = 4096;

/**
 * Decides /introspect. Signature checks are cached by token digest until the token
 * expires; everything that can change (time, revocation, the envelope, whether the
 * key is still published) is checked on every call.
 */
export class Introspector {
  private readonly verified = new Map<string, Verified>();
  private readonly cacheSize: number;
  private readonly cacheBytes: number;
  private cachedBytes = 0;
  private readonly shared = new Map<string, string>();
  private readonly contextHashes = new ContextHashMemo();

  constructor(private readonly options: IntrospectorOptions) {
    this.cacheSize = options.cacheSize ?? 100_000;
    this.cacheBytes = options.cacheBytes ?? 64 * 1024 * 1024;
  }

  async introspect(token: string, envelope: ContextEnvelope, nowMs = Date.now()): Promise<IntrospectionResult> {
    const nowSeconds = Math.floor(nowMs / 1000);
    const digest = hash('sha256', token, 'base64url');
    let entry = this.verified.get(digest);
    if (entry && this.options.revokedKeys?.isKeyRevoked(entry.kid)) return denyUnverified('key_revoked');
    if (entry && !this.options.keys.cached(entry.kid)) {
      this.forget(digest);
      entry = undefined;
    }
    if (!entry) {
      const outcome = await this.verify(token);
      if ('reason' in outcome) return denyUnverified(outcome.reason);
      entry = this.remember(digest, outcome.kid, outcome.claims);
    }
    const result = validateClaims(entry.claims, envelope, {
      issuer: this.options.issuer,
      nowSeconds,
      isRevoked: (jti) => this.options.revocations.isRevoked(jti),
      revocationsFresh: this.options.revocations.fresh,
      envelopeHash: this.contextHashes.hash(envelope),
    });
    if (result.reason === 'expired') this.forget(digest);
    return result;
  }

  get cachedTokens(): number {
    return this.verified.size;
  }

  /** Estimated bytes the cached tokens hold. */
  get cachedTokenBytes(): number {
    return this.cachedBytes;
  }

  /**
   * Keeps what the decision needs of a verified token, and nothing else: the claims
   * validateClaims reads, with the strings many tokens share (issuer, audience, purpose,
   * scopes, kid) kept once. Less retained per token means less for the GC to trace and copy.
   */
  private remember(digest: string, kid: string, claims: ConsentClaims): Verified {
    const claimsKept: DecisionClaims = {
      iss: claims.iss === this.options.issuer ? this.options.issuer : claims.iss,
      aud: this.share(claims.aud),
      sub: claims.sub,
      iat: claims.iat,
      exp: claims.exp,
      ...(claims.nbf !== undefined ? { nbf: claims.nbf } : {}),
      jti: claims.jti,
      scope: claims.scope.map((s) => this.share(s)),
      purpose: this.share(claims.purpose),
      context_hash: claims.context_hash,
    };
    const bytes = ENTRY_OVERHEAD_BYTES + 8 * claimsKept.scope.length + digest.length + claims.sub.length + claims.jti.length + claims.context_hash.length;
    const entry: Verified = { kid: this.share(kid), claims: claimsKept, bytes };
    while (this.verified.size > 0 && (this.verified.size >= this.cacheSize || this.cachedBytes + bytes > this.cacheBytes)) this.forget(this.verified.keys().next().value as string);
    if (this.cacheSize > 0 && bytes <= this.cacheBytes) {
      this.verified.set(digest, entry);
      this.cachedBytes += bytes;
    }
    return entry;
  }

  private forget(digest: string): void {
    const entry = this.verified.get(digest);
    if (entry === undefined) return;
    this.verified.delete(digest);
    this.cachedBytes -= entry.bytes;
  }

  private share(value: string): string {
    const known = this.shared.get(value);
    if (known !== undefined) return known;
    if (this.shared.size < MAX_SHARED_STRINGS) this.shared.set(value, value);
    return value;
  }

  private async verify(token: string): Promise<{ kid: string; claims: ConsentClaims } | { reason: Parameters<typeof denyUnverified>[0] }> {
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
