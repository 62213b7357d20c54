import { createLocalJWKSet, createRemoteJWKSet, customFetch, jwksCache, jwtVerify, type ExportedJWKSCache, type JWTVerifyGetKey } from 'jose';
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
  /**
   * While refetches fail, the last JWKS fetched still decides for this long after it was fetched
   * (default twice jwksMaxAgeMs): one failed refresh denies no valid token. Past it, a key removed
   * from the JWKS since (a revoked signing key) cannot be ruled out, and decisions are
   * `revocation_unavailable`.
   */
  jwksMaxStaleMs?: number;
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

/** The JWKS could not be fetched: unreachable (fetch's TypeError has no code), timed out, not 200, not a JWKS. */
const JWKS_FETCH_ERRORS = new Set(['', 'ERR_JWKS_TIMEOUT', 'ERR_JOSE_GENERIC', 'ERR_JWKS_INVALID']);
const JWKS_UNAVAILABLE = Symbol('jwks unavailable');
/** How long a decision whose revocation view looks stale waits for a due pull before it fails closed. */
const REFRESH_WAIT_MS = 500;

/**
 * The reason CTP gives for a failed key lookup or signature check; any other failure to resolve
 * the key (a key that does not import) leaves the verifier without a key for the kid: unknown_kid.
 */
const reasonOf = (error: unknown): DenyReason | null | typeof JWKS_UNAVAILABLE => {
  const code = (error as { code?: string }).code ?? '';
  if (CLAIM_ERRORS.has(code)) return null;
  if (JWKS_FETCH_ERRORS.has(code)) return JWKS_UNAVAILABLE;
  return JOSE_REASONS[code] ?? 'unknown_kid';
};

class JoseLocalValidator implements LocalValidator {
  private readonly verified = new Map<string, Verified>();
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  private readonly follower: RevocationFollower;
  private readonly issuer: string;
  private readonly cacheSize: number;
  private readonly cooldownMs: number;
  private readonly jwksMaxStaleMs: number;
  /** jose keeps the last JWKS fetched here, and when (`uat`). */
  private readonly jwksState: Partial<ExportedJWKSCache> = {};
  private readonly ctx: ValidationContext;
  private publishedKids = new Set<string>();
  private lastReloadMs = 0;

  constructor(private readonly options: LocalValidatorOptions) {
    const base = options.baseUrl.replace(/\/+$/, '');
    this.issuer = options.issuer ?? base;
    this.cacheSize = options.cacheSize ?? 10_000;
    this.cooldownMs = options.jwksCooldownMs ?? 1000;
    const maxAgeMs = options.jwksMaxAgeMs ?? 60_000;
    this.jwksMaxStaleMs = options.jwksMaxStaleMs ?? 2 * maxAgeMs;
    this.jwks = createRemoteJWKSet(new URL(options.jwksUrl ?? `${base}/.well-known/jwks.json`), {
      cooldownDuration: this.cooldownMs,
      cacheMaxAge: maxAgeMs,
      timeoutDuration: options.timeoutMs ?? 2000,
      [jwksCache]: this.jwksState as ExportedJWKSCache,
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
    // A view that looks stale may only be unread (this process was too busy to read its channels):
    // give it one I/O turn, or a due pull a moment, before failing closed.
    const fresh = this.follower.fresh || (await this.follower.refresh(REFRESH_WAIT_MS));
    const ctx = this.ctx;
    ctx.nowSeconds = Math.floor(nowMs / 1000);
    ctx.revocationsFresh = fresh;
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
   * A JWKS older than jwksMaxStaleMs proves nothing: the token is verified again (and denied).
   */
  private published(kid: string): boolean {
    if (!this.jwks.fresh && !this.jwks.reloading && Date.now() - this.lastReloadMs >= this.cooldownMs) {
      this.lastReloadMs = Date.now();
      this.jwks.reload().then(
        () => this.learnKids(),
        (error: unknown) => this.options.onError?.(error),
      );
    }
    return this.publishedKids.has(kid) && this.recentJwks() !== undefined;
  }

  /** The last JWKS fetched, if it was fetched within jwksMaxStaleMs. */
  private recentJwks(): ExportedJWKSCache['jwks'] | undefined {
    const { jwks, uat } = this.jwksState;
    return uat !== undefined && Date.now() - uat <= this.jwksMaxStaleMs ? jwks : undefined;
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
    let failure = await this.checkSignature(token, audience, this.jwks as JWTVerifyGetKey);
    if (failure === JWKS_UNAVAILABLE) {
      // The JWKS could not be refetched: the last one fetched decides while it is recent enough.
      const last = this.recentJwks();
      failure = last ? await this.checkSignature(token, audience, createLocalJWKSet(last)) : 'revocation_unavailable';
    }
    if (failure === JWKS_UNAVAILABLE) failure = 'unknown_kid';
    if (failure !== null) return { reason: failure };
    const payload = decodeJwsPayload(decoded.jws);
    if (!payload) return { reason: 'malformed' };
    const claims = consentClaimsSchema.safeParse(payload);
    if (!claims.success) return { reason: 'invalid_claims' };
    return { kid: decoded.jws.header.kid, claims: claims.data };
  }

  /** jose's verification (ES256 only; issuer, audience and token age pinned): null once the signature verified. */
  private async checkSignature(token: string, audience: string, key: JWTVerifyGetKey): Promise<ReturnType<typeof reasonOf>> {
    try {
      await jwtVerify(token, key, {
        algorithms: ['ES256'],
        issuer: this.issuer,
        audience,
        clockTolerance: CLOCK_SKEW_SECONDS,
        maxTokenAge: MAX_TOKEN_TTL_SECONDS + CLOCK_SKEW_SECONDS,
      });
      return null;
    } catch (error) {
      return reasonOf(error);
    }
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
