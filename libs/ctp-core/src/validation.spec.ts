import { buildClaims, consentClaimsSchema, MAX_TOKEN_TTL_SECONDS, scopeFor } from './claims';
import { pairwiseSubject } from './pseudonym';
import { validateClaims, type ValidationContext } from './validation';
import type { ContextEnvelope } from './envelope';
import vectors from './__fixtures__/context_hash_vectors.json';

const envelope = vectors.vectors[0]!.envelope as ContextEnvelope;
const now = 1_800_000_000;
const claims = buildClaims({
  envelope,
  issuer: 'http://ctp.test',
  sub: 'pseudonym',
  jti: 'c0b3e1f8-4567-4890-abcd-1234567890ab',
  policyUri: 'https://partner.example/policy/2025-11-01',
  nowSeconds: now,
  ttlSeconds: 240,
});
const ctx: ValidationContext = { issuer: 'http://ctp.test', nowSeconds: now, isRevoked: () => false, revocationsFresh: true };

describe('claims', () => {
  it('has exactly the guide §5 claims', () => {
    expect(claims).toEqual({
      iss: 'http://ctp.test',
      aud: 'svc://cx-ai/v1',
      sub: 'pseudonym',
      iat: now,
      exp: now + 240,
      jti: 'c0b3e1f8-4567-4890-abcd-1234567890ab',
      scope: ['sentiment.read', 'tone.read'],
      purpose: 'customer_retention',
      context_hash: vectors.vectors[0]!.context_hash,
      policy_uri: 'https://partner.example/policy/2025-11-01',
      consent_level: 'explicit',
      consent_version: 'ctp-0.1',
    });
    expect(consentClaimsSchema.parse(claims)).toEqual(claims);
  });

  it('caps the lifetime at 300 s', () => {
    expect(() => buildClaims({ ...baseInput(), ttlSeconds: MAX_TOKEN_TTL_SECONDS + 1 })).toThrow(RangeError);
    expect(scopeFor(['tone', 'tone', 'pitch'])).toEqual(['pitch.read', 'tone.read']);
  });

  it('derives pairwise subjects: stable per partner, unlinkable across partners, random without a reference', () => {
    const secret = Buffer.alloc(32, 7);
    expect(pairwiseSubject(secret, 'acme', 'u1')).toBe(pairwiseSubject(secret, 'acme', 'u1'));
    expect(pairwiseSubject(secret, 'acme', 'u1')).not.toBe(pairwiseSubject(secret, 'globex', 'u1'));
    expect(pairwiseSubject(secret, 'acme', 'u1')).not.toBe(pairwiseSubject(Buffer.alloc(32, 8), 'acme', 'u1'));
    expect(pairwiseSubject(secret, 'acme')).not.toBe(pairwiseSubject(secret, 'acme'));
    expect(pairwiseSubject(secret, 'acme', 'u1')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

function baseInput() {
  return { envelope, issuer: 'i', sub: 's', jti: 'j', policyUri: 'p', nowSeconds: now, ttlSeconds: 60 };
}

describe('validation rules (guide §6)', () => {
  it('allows a matching token and echoes its claims', () => {
    expect(validateClaims(claims, envelope, ctx)).toEqual({
      active: true,
      decision: 'allow',
      reason: null,
      sub: 'pseudonym',
      jti: claims.jti,
      scope: claims.scope,
      purpose: 'customer_retention',
    });
  });

  it.each([
    ['issuer_mismatch', { ...claims, iss: 'http://evil' }, envelope, ctx],
    ['audience_mismatch', claims, { ...envelope, processor: 'svc://other/v1' }, ctx],
    ['expired', claims, envelope, { ...ctx, nowSeconds: now + 240 + 61 }],
    ['not_yet_valid', claims, envelope, { ...ctx, nowSeconds: now - 61 }],
    ['not_yet_valid', { ...claims, nbf: now + 120 }, envelope, ctx],
    ['revoked', claims, envelope, { ...ctx, isRevoked: (jti: string) => jti === claims.jti }],
    ['revocation_unavailable', claims, envelope, { ...ctx, revocationsFresh: false }],
    ['purpose_mismatch', claims, { ...envelope, purpose: 'marketing' }, ctx],
    ['scope_insufficient', claims, { ...envelope, features: ['tone', 'stress'] }, ctx],
    ['context_mismatch', claims, { ...envelope, channel: 'chat' }, ctx],
    ['context_mismatch', claims, { ...envelope, features: ['tone'] }, ctx],
  ] as [string, typeof claims, ContextEnvelope, ValidationContext][])('denies with %s', (reason, c, env, context) => {
    const r = validateClaims(c, env, context);
    expect(r).toMatchObject({ active: false, decision: 'deny', reason, jti: claims.jti });
  });

  it('tolerates exactly 60 s of skew on both sides', () => {
    expect(validateClaims(claims, envelope, { ...ctx, nowSeconds: now + 240 + 60 }).decision).toBe('allow');
    expect(validateClaims(claims, envelope, { ...ctx, nowSeconds: now - 60 }).decision).toBe('allow');
  });
});
