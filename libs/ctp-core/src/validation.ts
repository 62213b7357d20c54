import { CLOCK_SKEW_SECONDS, MAX_TOKEN_TTL_SECONDS, type ConsentClaims } from './claims';
import { contextHash } from './context_hash';
import type { ContextEnvelope } from './envelope';
import type { DenyReason } from './errors';

/** The /introspect response, exactly `{active, decision, reason, sub, jti, scope, purpose}`. */
export interface IntrospectionResult {
  active: boolean;
  decision: 'allow' | 'deny';
  reason: DenyReason | null;
  sub: string | null;
  jti: string | null;
  scope: string[] | null;
  purpose: string | null;
}

/** A denial before the signature verified: nothing from the token is echoed back. */
export function denyUnverified(reason: DenyReason): IntrospectionResult {
  return { active: false, decision: 'deny', reason, sub: null, jti: null, scope: null, purpose: null };
}

/** The claims a decision reads: what a verifier needs to keep of a verified token. */
export type DecisionClaims = Pick<ConsentClaims, 'iss' | 'aud' | 'sub' | 'iat' | 'exp' | 'nbf' | 'jti' | 'scope' | 'purpose' | 'context_hash'>;

function result(claims: DecisionClaims, reason: DenyReason | null): IntrospectionResult {
  return {
    active: reason === null,
    decision: reason === null ? 'allow' : 'deny',
    reason,
    sub: claims.sub,
    jti: claims.jti,
    scope: claims.scope,
    purpose: claims.purpose,
  };
}

export interface ValidationContext {
  issuer: string;
  nowSeconds: number;
  isRevoked: (jti: string) => boolean;
  /** Whether the revocation view is provably current; when not, deny (fail closed). */
  revocationsFresh: boolean;
  /** contextHash(envelope) when the caller already has it (a verifier memoising frozen envelopes); computed otherwise. */
  envelopeHash?: string;
}

/**
 * Guide §6 on claims whose signature already verified. Purpose and scope are
 * checked before the context hash, which also covers them, so a partner learns the
 * specific mismatch instead of a generic one.
 */
export function validateClaims(claims: DecisionClaims, envelope: ContextEnvelope, ctx: ValidationContext): IntrospectionResult {
  return result(claims, denyReason(claims, envelope, ctx));
}

function denyReason(claims: DecisionClaims, envelope: ContextEnvelope, ctx: ValidationContext): DenyReason | null {
  if (claims.iss !== ctx.issuer) return 'issuer_mismatch';
  if (claims.aud !== envelope.processor) return 'audience_mismatch';
  if (ctx.nowSeconds > claims.exp + CLOCK_SKEW_SECONDS) return 'expired';
  if (claims.iat > ctx.nowSeconds + CLOCK_SKEW_SECONDS) return 'not_yet_valid';
  if (claims.nbf !== undefined && claims.nbf > ctx.nowSeconds + CLOCK_SKEW_SECONDS) return 'not_yet_valid';
  // With iat at most now + skew, this also bounds exp by now + 300 s + skew: a validly signed
  // token claiming a longer life (a misused or stolen key) is refused, not trusted for years.
  if (claims.exp - claims.iat > MAX_TOKEN_TTL_SECONDS) return 'lifetime_exceeded';
  if (ctx.isRevoked(claims.jti)) return 'revoked';
  if (!ctx.revocationsFresh) return 'revocation_unavailable';
  if (claims.purpose !== envelope.purpose) return 'purpose_mismatch';
  for (const feature of envelope.features) {
    if (!claims.scope.includes(`${feature}.read`)) return 'scope_insufficient';
  }
  if (claims.context_hash !== (ctx.envelopeHash ?? contextHash(envelope))) return 'context_mismatch';
  return null;
}
