import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { buildClaims, CLOCK_SKEW_SECONDS, MAX_TOKEN_TTL_SECONDS, publicJwkOf, type DenyReason } from '@ctp/ctp-core';
import { MAX_TOKEN_LENGTH } from '@ctp/ctp-core/internal';
import { GUIDE_ENVELOPE } from './fixtures';

/**
 * The one case corpus every CTP verifier must decide alike: POST /introspect (ctp up, the
 * standalone introspector) and the SDK's local validator, with jose as the independent oracle
 * of the signature-level cases. Each case builds its token (and, for mismatches, the envelope
 * it is checked against) from a world the runner sets up against a live deployment.
 */
export interface CorpusWorld {
  issuer: string;
  /** The deployment's signing key (crafted tokens are signed with it unless the case forges). */
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** A token /issue returned for GUIDE_ENVELOPE, not revoked. */
  token: string;
  /** URL of a JWKS serving an attacker's key under our kid (a verifier must never fetch it). */
  attackerJwksUrl: string;
  attacker: { privateKey: KeyObject; publicKey: KeyObject };
}

export interface DecisionCase {
  name: string;
  token: (world: CorpusWorld) => string;
  /** The envelope of the check (default: GUIDE_ENVELOPE, the token's own). */
  envelope?: () => object;
  /** Revoke the token's jti through /revoke before checking it. */
  revokeFirst?: boolean;
  /** null: allow. */
  reason: DenyReason | null;
  /**
   * jose (jwtVerify: ES256 only, issuer and audience pinned, 60 s skew) checks the signature and
   * the registered claims, nothing CTP-specific: it rejects exactly the cases whose reason is about
   * those, and accepts the rest. Set where jose accepts a token CTP refuses on its own stricter rule.
   */
  joseAccepts?: true;
}

/** Reasons about the signature, the header or the registered claims: jose must reject these tokens too. */
const JOSE_REJECTS = new Set<DenyReason>([
  'malformed', 'oversized', 'alg_not_allowed', 'crit_unsupported', 'unknown_kid', 'bad_signature', 'invalid_claims', 'issuer_mismatch', 'audience_mismatch', 'expired', 'not_yet_valid',
]);

/** What jose, the independent oracle, must conclude about a case's token. */
export const joseShouldAccept = (c: Pick<DecisionCase, 'reason' | 'joseAccepts'>) => c.joseAccepts === true || c.reason === null || !JOSE_REJECTS.has(c.reason);

export const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A compact JWS with any header and payload, signed by `key` (JOSE r || s unless `der`). */
export function craftJws(header: object, payload: object, key: KeyObject, dsaEncoding: 'ieee-p1363' | 'der' = 'ieee-p1363'): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding }).toString('base64url')}`;
}

/** Claims for GUIDE_ENVELOPE as the deployment would issue them, with overrides. */
export function corpusClaims(world: Pick<CorpusWorld, 'issuer'>, overrides: Record<string, unknown> = {}, jti = 'c0b3e1f8-4567-4890-abcd-1234567890ab') {
  const now = Math.floor(Date.now() / 1000);
  return { ...buildClaims({ envelope: { ...GUIDE_ENVELOPE, features: [...GUIDE_ENVELOPE.features] }, issuer: world.issuer, sub: 's', jti, policyUri: 'https://p', nowSeconds: now, ttlSeconds: 240 }), ...overrides };
}

export const newAttacker = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
export const attackerJwks = (world: Pick<CorpusWorld, 'kid' | 'attacker'>) => ({ keys: [publicJwkOf(world.attacker.publicKey, world.kid)] });

const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const P = BigInt('0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff');
const int32 = (v: bigint) => Buffer.from(v.toString(16).padStart(64, '0'), 'hex');

/**
 * Malformed ES256 signatures on a genuine token (the edge values of Wycheproof's
 * ecdsa_secp256r1_sha256_p1363 vectors), each with CTP's reason; `another` is a second genuine
 * token whose signature is swapped in. The high-S twin is allowed: it is the same consent.
 */
export function signatureCases(token: string, signingKey: { kid: string; privateKey: KeyObject }, another: string): [string, string, DenyReason | null][] {
  const [h, p, sig] = token.split('.') as [string, string, string];
  const raw = Buffer.from(sig, 'base64url');
  const r = BigInt(`0x${raw.subarray(0, 32).toString('hex')}`);
  const s = BigInt(`0x${raw.subarray(32).toString('hex')}`);
  const withSig = (b: Buffer) => `${h}.${p}.${b.toString('base64url')}`;
  return [
    ['r = 0', withSig(Buffer.concat([int32(0n), int32(s)])), 'bad_signature'],
    ['s = 0', withSig(Buffer.concat([int32(r), int32(0n)])), 'bad_signature'],
    ['r = s = 0', withSig(Buffer.alloc(64)), 'bad_signature'],
    ['r = n', withSig(Buffer.concat([int32(N), int32(s)])), 'bad_signature'],
    ['s = n', withSig(Buffer.concat([int32(r), int32(N)])), 'bad_signature'],
    ['r > n', withSig(Buffer.concat([int32(N + 5n), int32(s)])), 'bad_signature'],
    ['s = p', withSig(Buffer.concat([int32(r), int32(P)])), 'bad_signature'],
    ['r = n - 1', withSig(Buffer.concat([int32(N - 1n), int32(s)])), 'bad_signature'],
    ['63 bytes', withSig(raw.subarray(0, 63)), 'bad_signature'],
    ['65 bytes', withSig(Buffer.concat([raw, Buffer.from([1])])), 'bad_signature'],
    ['128 bytes', withSig(Buffer.concat([raw, raw])), 'bad_signature'],
    ['DER-encoded', withSig(sign('sha256', Buffer.from(`${h}.${p}`), { key: signingKey.privateKey, dsaEncoding: 'der' })), 'bad_signature'],
    ['empty', `${h}.${p}.`, 'malformed'],
    ['padded base64url', `${token}=`, 'malformed'],
    ['signature of another token', withSig(Buffer.from(another.split('.')[2]!, 'base64url')), 'bad_signature'],
    ['signed by another key under our kid', craftJws(JSON.parse(Buffer.from(h, 'base64url').toString()) as object, JSON.parse(Buffer.from(p, 'base64url').toString()) as object, newAttacker().privateKey), 'bad_signature'],
    ['high-S twin of a genuine token', withSig(Buffer.concat([int32(r), int32(N - s)])), null],
  ];
}

const ours = (w: CorpusWorld, header: object = {}) => ({ alg: 'ES256', kid: w.kid, ...header });
const now = () => Math.floor(Date.now() / 1000);

export const DECISION_CORPUS: DecisionCase[] = [
  { name: 'valid: the issued token for its own envelope', token: (w) => w.token, reason: null },
  { name: 'valid: features in another order and repeated', token: (w) => w.token, envelope: () => ({ ...GUIDE_ENVELOPE, features: ['sentiment', 'tone', 'tone'] }), reason: null },
  { name: 'valid: another ts (not hashed)', token: (w) => w.token, envelope: () => ({ ...GUIDE_ENVELOPE, ts: '2026-01-01T00:00:00Z' }), reason: null },
  { name: 'valid: a crafted token within the skew after exp', token: (w) => craftJws(ours(w), corpusClaims(w, { exp: now() - CLOCK_SKEW_SECONDS + 20 }), w.privateKey), reason: null },
  { name: 'revoked', token: (w) => w.token, revokeFirst: true, reason: 'revoked' },
  { name: 'expired (exp + 60 s skew passed)', token: (w) => craftJws(ours(w), corpusClaims(w, { exp: now() - CLOCK_SKEW_SECONDS - 5 }), w.privateKey), reason: 'expired' },
  { name: 'not yet valid beyond skew (iat)', token: (w) => craftJws(ours(w), corpusClaims(w, { iat: now() + CLOCK_SKEW_SECONDS + 30 }), w.privateKey), reason: 'not_yet_valid' },
  { name: 'not yet valid beyond skew (nbf)', token: (w) => craftJws(ours(w), corpusClaims(w, { nbf: now() + CLOCK_SKEW_SECONDS + 30 }), w.privateKey), reason: 'not_yet_valid' },
  // jose bounds only the token's age (iat), not the lifetime it claims; CTP refuses any exp - iat over 300 s.
  { name: 'lifetime exceeded: validly signed, living ten years', token: (w) => craftJws(ours(w), corpusClaims(w, { exp: now() + 10 * 365 * 86_400 }), w.privateKey), reason: 'lifetime_exceeded' },
  {
    name: 'lifetime exceeded: one second over the maximum',
    token: (w) => {
      const claims = corpusClaims(w);
      return craftJws(ours(w), { ...claims, exp: claims.iat + MAX_TOKEN_TTL_SECONDS + 1 }, w.privateKey);
    },
    reason: 'lifetime_exceeded',
  },
  { name: 'audience mismatch (envelope processor)', token: (w) => w.token, envelope: () => ({ ...GUIDE_ENVELOPE, processor: 'svc://other/v1' }), reason: 'audience_mismatch' },
  { name: 'audience mismatch (token aud)', token: (w) => craftJws(ours(w), corpusClaims(w, { aud: 'svc://other/v1' }), w.privateKey), reason: 'audience_mismatch' },
  { name: 'issuer mismatch', token: (w) => craftJws(ours(w), corpusClaims(w, { iss: 'https://evil.example' }), w.privateKey), reason: 'issuer_mismatch' },
  { name: 'issuer mismatch before audience mismatch', token: (w) => craftJws(ours(w), corpusClaims(w, { iss: 'https://evil.example', aud: 'svc://other/v1' }), w.privateKey), reason: 'issuer_mismatch' },
  { name: 'purpose mismatch', token: (w) => w.token, envelope: () => ({ ...GUIDE_ENVELOPE, purpose: 'marketing' }), reason: 'purpose_mismatch' },
  { name: 'scope insufficient', token: (w) => w.token, envelope: () => ({ ...GUIDE_ENVELOPE, features: ['tone', 'sentiment', 'stress'] }), reason: 'scope_insufficient' },
  { name: 'context mismatch: ui_copy_id', token: (w) => w.token, envelope: () => ({ ...GUIDE_ENVELOPE, ui_copy_id: 'consent-modal-2025-11-01#fr-FR' }), reason: 'context_mismatch' },
  { name: 'context mismatch: channel', token: (w) => w.token, envelope: () => ({ ...GUIDE_ENVELOPE, channel: 'chat' }), reason: 'context_mismatch' },
  { name: 'context mismatch: retention', token: (w) => w.token, envelope: () => ({ ...GUIDE_ENVELOPE, retention: 'thirty_days' }), reason: 'context_mismatch' },
  { name: 'context mismatch: jurisdiction', token: (w) => w.token, envelope: () => ({ ...GUIDE_ENVELOPE, jurisdiction: 'DE' }), reason: 'context_mismatch' },
  { name: 'context mismatch: a subset of the features', token: (w) => w.token, envelope: () => ({ ...GUIDE_ENVELOPE, features: ['tone'] }), reason: 'context_mismatch' },
  { name: 'alg none', token: (w) => `${b64url({ alg: 'none', kid: w.kid })}.${b64url(corpusClaims(w))}.`, reason: 'alg_not_allowed' },
  {
    name: 'HS256 keyed with the public key (algorithm confusion)',
    token: (w) => {
      const input = `${b64url({ alg: 'HS256', kid: w.kid })}.${b64url(corpusClaims(w))}`;
      return `${input}.${createHmac('sha256', w.publicKey.export({ type: 'spki', format: 'pem' })).update(input).digest('base64url')}`;
    },
    reason: 'alg_not_allowed',
  },
  { name: 'alg es256 (wrong case)', token: (w) => craftJws({ alg: 'es256', kid: w.kid }, corpusClaims(w), w.privateKey), reason: 'alg_not_allowed' },
  { name: 'unknown kid', token: (w) => craftJws({ alg: 'ES256', kid: 'key-2099-01-deadbeef' }, corpusClaims(w), w.privateKey), reason: 'unknown_kid' },
  { name: 'kid with a path', token: (w) => craftJws({ alg: 'ES256', kid: '../../keys/key.pem' }, corpusClaims(w), w.privateKey), reason: 'unknown_kid' },
  { name: 'kid with SQL', token: (w) => craftJws({ alg: 'ES256', kid: "x' OR '1'='1" }, corpusClaims(w), w.privateKey), reason: 'unknown_kid' },
  // jose picks the only ES256 key when kid is absent; CTP requires kid (keys are looked up by kid only).
  { name: 'no kid', token: (w) => craftJws({ alg: 'ES256' }, corpusClaims(w), w.privateKey), reason: 'unknown_kid', joseAccepts: true },
  {
    name: 'embedded jwk, jku and x5u naming an attacker key',
    token: (w) => craftJws(ours(w, { jwk: publicJwkOf(w.attacker.publicKey, w.kid), jku: w.attackerJwksUrl, x5u: w.attackerJwksUrl }), corpusClaims(w), w.attacker.privateKey),
    reason: 'bad_signature',
  },
  { name: 'unknown crit header', token: (w) => craftJws(ours(w, { crit: ['exp'], exp: 1 }), corpusClaims(w), w.privateKey), reason: 'crit_unsupported' },
  { name: 'crit b64 (unencoded payload)', token: (w) => craftJws(ours(w, { crit: ['b64'], b64: false }), corpusClaims(w), w.privateKey), reason: 'crit_unsupported' },
  {
    name: 'tampered payload (a feature added to scope)',
    token: (w) => {
      const [h, p, s] = w.token.split('.') as [string, string, string];
      return `${h}.${b64url({ ...(JSON.parse(Buffer.from(p, 'base64url').toString()) as object), scope: ['tone.read', 'sentiment.read', 'stress.read'] })}.${s}`;
    },
    reason: 'bad_signature',
  },
  { name: 'oversized', token: (w) => `${b64url({ alg: 'ES256', kid: w.kid })}.${'A'.repeat(MAX_TOKEN_LENGTH)}.AAAA`, reason: 'oversized' },
  { name: 'non-JSON header', token: (w) => `${b64url('not json')}.${b64url(corpusClaims(w))}.${w.token.split('.')[2]}`, reason: 'malformed' },
  { name: 'non-base64url segment', token: (w) => `${w.token.split('.')[0]}.pay*load.${w.token.split('.')[2]}`, reason: 'malformed' },
  { name: 'two segments', token: (w) => w.token.split('.').slice(0, 2).join('.'), reason: 'malformed' },
  { name: 'four segments', token: (w) => `${w.token}.${w.token.split('.')[2]}`, reason: 'malformed' },
  { name: 'not a JWT at all', token: () => 'not-a-jwt', reason: 'malformed' },
  { name: 'DER signature instead of JOSE', token: (w) => craftJws(ours(w), corpusClaims(w), w.privateKey, 'der'), reason: 'bad_signature' },
  { name: 'signed payload that is not a JSON object', token: (w) => craftJws(ours(w), [1, 2, 3], w.privateKey), reason: 'malformed' },
  { name: 'signed claims missing exp', token: (w) => craftJws(ours(w), { ...corpusClaims(w), exp: undefined }, w.privateKey), reason: 'invalid_claims' },
  { name: 'signed claims with a string exp', token: (w) => craftJws(ours(w), corpusClaims(w, { exp: 'soon' }), w.privateKey), reason: 'invalid_claims' },
  // jti is a lowercase UUID in CTP (revocations are normalised to it); to jose any string is a jti.
  { name: 'signed claims with an uppercase jti', token: (w) => craftJws(ours(w), corpusClaims(w, { jti: 'C0B3E1F8-4567-4890-ABCD-1234567890AB' }), w.privateKey), reason: 'invalid_claims', joseAccepts: true },
  { name: 'signed claims with a jti that is not a UUID', token: (w) => craftJws(ours(w), corpusClaims(w, { jti: 'token-1' }), w.privateKey), reason: 'invalid_claims', joseAccepts: true },
  // consent_version is CTP's claim; jose knows only the registered ones.
  { name: 'signed claims of another consent version', token: (w) => craftJws(ours(w), corpusClaims(w, { consent_version: 'ctp-9' }), w.privateKey), reason: 'invalid_claims', joseAccepts: true },
];
