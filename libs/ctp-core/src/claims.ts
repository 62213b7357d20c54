import { z } from 'zod';
import { contextHash } from './context_hash';
import type { ContextEnvelope } from './envelope';

export const CONSENT_VERSION = 'ctp-0.1';
export const CONSENT_LEVEL = 'explicit';
export const DEFAULT_TOKEN_TTL_SECONDS = 240;
/** The guide tells partners to cache a token for at most 300 s; no token lives longer. */
export const MAX_TOKEN_TTL_SECONDS = 300;
/** Clock skew tolerated on exp, iat and nbf (pilot brief §6). Enforced here only. */
export const CLOCK_SKEW_SECONDS = 60;
/** How long after its issue a token can still be accepted: the longest lifetime plus the skew on exp. */
export const TOKEN_VERIFY_HORIZON_SECONDS = MAX_TOKEN_TTL_SECONDS + CLOCK_SKEW_SECONDS;
/**
 * How far back a verifier replays revocations (and emergency key revocations) when it starts,
 * and how long a revocation or a token's owner must be findable: one verify horizon plus the
 * skew between the clocks of the process that revoked and the one that verifies.
 */
export const REVOCATION_REPLAY_WINDOW_SECONDS = TOKEN_VERIFY_HORIZON_SECONDS + CLOCK_SKEW_SECONDS;

/**
 * The one spelling of a jti: a lowercase RFC 9562 UUID, as the issuer makes them. Revocations
 * are normalised to it; a token whose jti is spelled any other way is not one of ours.
 */
export const CANONICAL_JTI = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Token claims exactly as integration guide §5. */
export const consentClaimsSchema = z.object({
  iss: z.string().min(1),
  aud: z.string().min(1),
  sub: z.string().min(1),
  iat: z.number().int(),
  exp: z.number().int(),
  nbf: z.number().int().optional(),
  jti: z.string().regex(CANONICAL_JTI),
  scope: z.array(z.string()),
  purpose: z.string(),
  context_hash: z.string().regex(/^[0-9a-f]{64}$/),
  policy_uri: z.string(),
  consent_level: z.literal(CONSENT_LEVEL),
  consent_version: z.literal(CONSENT_VERSION),
  /** RFC 7800 confirmation: the RFC 7638 thumbprint of the key a guarded request must be signed with. */
  cnf: z.strictObject({ jkt: z.string() }).optional(),
});
export type ConsentClaims = z.infer<typeof consentClaimsSchema>;

/** scope = `<feature>.read` for each distinct feature, sorted. */
export function scopeFor(features: readonly string[]): string[] {
  return [...new Set(features)].sort().map((f) => `${f}.read`);
}

export interface ClaimsInput {
  envelope: ContextEnvelope;
  issuer: string;
  sub: string;
  jti: string;
  policyUri: string;
  nowSeconds: number;
  ttlSeconds: number;
  /** Bind the token to this key thumbprint (`cnf.jkt`). */
  keyBindingJkt?: string;
}

export function buildClaims(input: ClaimsInput): ConsentClaims {
  if (!Number.isInteger(input.ttlSeconds) || input.ttlSeconds < 1 || input.ttlSeconds > MAX_TOKEN_TTL_SECONDS) {
    throw new RangeError(`token lifetime must be 1..${MAX_TOKEN_TTL_SECONDS} s, got ${input.ttlSeconds}`);
  }
  if (!CANONICAL_JTI.test(input.jti)) throw new RangeError('jti must be a lowercase UUID');
  const { envelope } = input;
  return {
    iss: input.issuer,
    aud: envelope.processor,
    sub: input.sub,
    iat: input.nowSeconds,
    exp: input.nowSeconds + input.ttlSeconds,
    jti: input.jti,
    scope: scopeFor(envelope.features),
    purpose: envelope.purpose,
    context_hash: contextHash(envelope),
    policy_uri: input.policyUri,
    consent_level: CONSENT_LEVEL,
    consent_version: CONSENT_VERSION,
    ...(input.keyBindingJkt === undefined ? {} : { cnf: { jkt: input.keyBindingJkt } }),
  };
}
