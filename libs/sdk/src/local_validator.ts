import { createRemoteJWKSet, customFetch, jwtVerify, type JWTVerifyGetKey } from 'jose';
import {
  CLOCK_SKEW_SECONDS,
  consentClaimsSchema,
  decodeCompactJws,
  decodeJwsPayload,
  denyUnverified,
  MAX_TOKEN_TTL_SECONDS,
  validateClaims,
  type ConsentClaims,
  type ContextEnvelope,
  type DenyReason,
  type IntrospectionResult,
  type ValidationContext,
} from '@ctp/ctp-core';
import { envelopeHashOf } from './envelope';
import { RevocationFollower } from './revocation_follower';

export interface LocalValidatorOptions {
  /** CTP's base URL: JWKS at /.well-known/jwks.json, revocations at /revocations and /revocations/stream. */
  baseUrl: string;
  /** The partner API key (the revocation feed is per partner); leave it out only against a dev-mode `ctp up`. */
  apiKey?: string;
  /** The `iss` tokens must carry: the deployment's CTP_ISSUER (default: baseUrl). */
  issuer?: string;
  /** Default: `${baseUrl}/.well-known/jwks.json`. */
  jwksUrl?: string;
  /** Least time between JWKS refetches caused by unknown kids (default 1000 ms, as CTP's introspector). */
  jwksCooldownMs?: number;
  /** How long the JWKS is trusted before it is refetched (default 60 s, the JWKS max-age). */
  jwksMaxAgeMs?: number;
  /** Signature-verified tokens kept, least recently verified out first (default 10,000). */
  cacheSize?: number;
  /** Deadline of each JWKS and revocation-feed request (default 2000 ms). */
  timeoutMs?: number;
  pullIntervalMs?: number;
  staleAfterMs?: number;
  pushIdleMs?: number;
  fetch?: typeof fetch;
  /** Background failures (JWKS refresh, revocation channel); decisions never throw for them. */
  onError?: (error: unknown) => void;
}

export interface LocalValidator {
  /** The decision POST /introspect would give, decided in this process (no network hop on the hot path). */
  decide(token: string, envelope: ContextEnvelope, nowMs?: number): Promise<IntrospectionResult>;
  /** Resolves once the JWKS is loaded and the revocation view is fresh (until then every decision is `revocation_unavailable`). */
  ready(timeoutMs?: number): Promise<void>;
  /** Whether the revocation view is provably current (push channel live, or a pull within staleAfterMs). */
  readonly fresh: boolean;
  /** Called with each newly revoked jti. */
  onRevoked(listener: (jti: string) => void): () => void;
  close(): Promise<void>;
}

interface Verified {
  kid: string;
  claims: ConsentClaims;
}

/** jose error codes, mapped to the reasons CTP's verifier gives for the same failure. */
const JOSE_REASONS: Record<string, DenyReason> = {
  ERR_JWKS_NO_MATCHING_KEY: 'unknown_kid',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'bad_signature',
  ERR_JOSE_ALG_NOT_ALLOWED: 'alg_not_allowed',
  ERR_JWS_INVALID: 'malformed',
  ERR_JWT_INVALID: 'malformed',
};
/** Raised only after the signature verified: the claims then decide, exactly as CTP orders the checks. */
const CLAIM_ERRORS = new Set(['ERR_JWT_CLAIM_VALIDATION_FAILED', 'ERR_JWT_EXPIRED']);

/**
 * Any other failure while resolving the key (JWKS unreachable, timed out, not a JWKS, a key
 * that does not import) leaves the verifier without a key for the kid: CTP says unknown_kid.
 */
const reasonOf = (error: unknown): DenyReason => JOSE_REASONS[(error as { code?: string }).code ?? ''] ?? 'unknown_kid';

class JoseLocalValidator implements LocalValidator {
  private readonly verified = new Map<string, Verified>();
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  private readonly follower: RevocationFollower;
  private readonly issuer: string;
  private readonly cacheSize: number;
  private readonly cooldownMs: number;
  private readonly ctx: ValidationContext;
  private publishedKids = new Set<string>();
  private lastReloadMs = 0;

  constructor(private readonly options: LocalValidatorOptions) {
    const base = options.baseUrl.replace(/\/+$/, '');
    this.issuer = options.issuer ?? base;
    this.cacheSize = options.cacheSize ?? 10_000;
    this.cooldownMs = options.jwksCooldownMs ?? 1000;
    this.jwks = createRemoteJWKSet(new URL(options.jwksUrl ?? `${base}/.well-known/jwks.json`), {
      cooldownDuration: this.cooldownMs,
      cacheMaxAge: options.jwksMaxAgeMs ?? 60_000,
      timeoutDuration: options.timeoutMs ?? 2000,
      ...(options.fetch ? { [customFetch]: options.fetch } : {}),
    });
    this.follower = new RevocationFollower({
      baseUrl: base,
      apiKey: options.apiKey,
      fetch: options.fetch,
      pullIntervalMs: options.pullIntervalMs,
      staleAfterMs: options.staleAfterMs,
      pushIdleMs: options.pushIdleMs,
      timeoutMs: options.timeoutMs,
      onError: options.onError,
    });
    const follower = this.follower;
    this.ctx = { issuer: this.issuer, nowSeconds: 0, isRevoked: (jti) => follower.isRevoked(jti), revocationsFresh: false };
    follower.start();
  }

  get fresh(): boolean {
    return this.follower.fresh;
  }

  async ready(timeoutMs = 10_000): Promise<void> {
    await Promise.all([this.follower.ready(timeoutMs), this.loadJwks(timeoutMs)]);
  }

  /** Fetches the JWKS before the first decision needs it (retrying until `timeoutMs`). */
  private async loadJwks(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.jwks.reload();
        this.learnKids();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`the JWKS could not be fetched within ${timeoutMs} ms`, { cause: error });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  onRevoked(listener: (jti: string) => void): () => void {
    return this.follower.onRevoked(listener);
  }

  close(): Promise<void> {
    return this.follower.stop();
  }

  async decide(token: string, envelope: ContextEnvelope, nowMs = Date.now()): Promise<IntrospectionResult> {
    const envelopeHash = envelopeHashOf(envelope);
    let entry = this.verified.get(token);
    if (entry !== undefined && !this.published(entry.kid)) {
      this.verified.delete(token);
      entry = undefined;
    }
    if (entry === undefined) {
      const outcome = await this.verify(token, envelope.processor);
      this.learnKids();
      if ('reason' in outcome) return denyUnverified(outcome.reason);
      entry = outcome;
      if (this.verified.size >= this.cacheSize) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, entry);
    }
    const ctx = this.ctx;
    ctx.nowSeconds = Math.floor(nowMs / 1000);
    ctx.revocationsFresh = this.follower.fresh;
    ctx.envelopeHash = envelopeHash;
    const result = validateClaims(entry.claims, envelope, ctx);
    if (result.reason === 'expired') this.verified.delete(token);
    return result;
  }

  /**
   * Whether `kid` is still in the JWKS, as CTP's introspector re-checks on every cached hit.
   * Cached hits never reach jose's key lookup, so the JWKS is reloaded here once it is older than
   * its max-age (at most once per cooldown while it cannot be fetched). The kid set is read after
   * each reload and each verification, never per decision: jose hands out a copy of the JWKS.
   */
  private published(kid: string): boolean {
    if (!this.jwks.fresh && !this.jwks.reloading && Date.now() - this.lastReloadMs >= this.cooldownMs) {
      this.lastReloadMs = Date.now();
      this.jwks.reload().then(
        () => this.learnKids(),
        (error: unknown) => this.options.onError?.(error),
      );
    }
    return this.publishedKids.has(kid);
  }

  private learnKids(): void {
    this.publishedKids = new Set((this.jwks.jwks()?.keys ?? []).map((k) => k.kid).filter((k): k is string => typeof k === 'string'));
  }

  /**
   * Steps 1-9 of CTP's validation order. The structure and header checks are ctp-core's own (so
   * the reason is CTP's); jose resolves the key (refetching on an unknown kid) and verifies the
   * ES256 signature with issuer, audience and times pinned. Once the signature verified, the
   * claims are read as CTP reads them and validateClaims decides, so both give the same reason.
   */
  private async verify(token: string, audience: string): Promise<Verified | { reason: DenyReason }> {
    const decoded = decodeCompactJws(token);
    if (!decoded.ok) return { reason: decoded.reason };
    try {
      await jwtVerify(token, this.jwks as JWTVerifyGetKey, {
        algorithms: ['ES256'],
        issuer: this.issuer,
        audience,
        clockTolerance: CLOCK_SKEW_SECONDS,
        maxTokenAge: MAX_TOKEN_TTL_SECONDS + CLOCK_SKEW_SECONDS,
      });
    } catch (error) {
      if (!CLAIM_ERRORS.has((error as { code?: string }).code ?? '')) return { reason: reasonOf(error) };
    }
    const payload = decodeJwsPayload(decoded.jws);
    if (!payload) return { reason: 'malformed' };
    const claims = consentClaimsSchema.safeParse(payload);
    if (!claims.success) return { reason: 'invalid_claims' };
    return { kid: decoded.jws.header.kid, claims: claims.data };
  }
}

/**
 * A verifier that reaches the decision and reason of POST /introspect without calling it: the
 * JWKS through jose's createRemoteJWKSet, ES256 verification with jose's jwtVerify, the context
 * hash, expiry with CTP's 60 s skew, and this partner's revocations over the push channel (pull
 * as fallback). When it can prove neither channel current it denies with
 * `revocation_unavailable`, as CTP's introspector does. It knows the revocations of your own
 * tokens only (the feed is per partner): check tokens CTP issued to you.
 */
export function createLocalValidator(options: LocalValidatorOptions): LocalValidator {
  return new JoseLocalValidator(options);
}
