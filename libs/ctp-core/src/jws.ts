import { isAscii } from 'node:buffer';
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { signEs256Bytes, verifyEs256Bytes } from './es256';
import type { DenyReason } from './errors';

/** Longest token accepted. A consent token is about 700 characters; anything near this is hostile. */
export const MAX_TOKEN_LENGTH = 4096;
export const JWS_ALG = 'ES256';
const KID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const SEGMENT = /^[A-Za-z0-9_-]+$/;
/** ES256 signatures in the JOSE form are r || s, 32 bytes each (RFC 7518 §3.4). */
const ES256_SIGNATURE_BYTES = 64;
const P256_COORDINATE_BYTES = 32;

export interface JwsHeader {
  alg: typeof JWS_ALG;
  kid: string;
  typ?: string;
}

/** A compact JWS whose structure and header passed every check; the signature is not verified yet. */
export interface DecodedJws {
  header: JwsHeader;
  signingInput: string;
  payloadSegment: string;
  signature: Buffer;
}

export type DecodeResult = { ok: true; jws: DecodedJws } | { ok: false; reason: DenyReason };

/** Strict base64url: the RFC 4648 §5 alphabet, no padding, canonical trailing bits. */
export function decodeBase64url(segment: string): Buffer | null {
  if (!SEGMENT.test(segment) || segment.length % 4 === 1) return null;
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : null;
}

/** Strict UTF-8; one decoder serves every call (no `stream`, so it keeps no state). */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function decodeJsonObject(segment: string): Record<string, unknown> | null {
  const bytes = decodeBase64url(segment);
  if (!bytes) return null;
  let value: unknown;
  try {
    value = JSON.parse(isAscii(bytes) ? bytes.toString('latin1') : UTF8.decode(bytes));
  } catch {
    return null;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/**
 * Parses a compact JWS and checks its header. Only ES256 with a well-formed kid is
 * accepted; `crit` is refused because no extension is implemented; `jwk`, `jku`,
 * `x5u` and `x5c` are ignored: keys come only from our own JWKS, looked up by kid.
 */
export function decodeCompactJws(token: string): DecodeResult {
  if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'oversized' };
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'malformed' };
  const [headerSegment, payloadSegment, signatureSegment] = parts as [string, string, string];
  const header = decodeJsonObject(headerSegment);
  if (!header || !SEGMENT.test(payloadSegment)) return { ok: false, reason: 'malformed' };
  if (header.alg !== JWS_ALG) return { ok: false, reason: 'alg_not_allowed' };
  if (header.crit !== undefined) return { ok: false, reason: 'crit_unsupported' };
  if (typeof header.kid !== 'string' || !KID_PATTERN.test(header.kid)) return { ok: false, reason: 'unknown_kid' };
  const signature = decodeBase64url(signatureSegment);
  if (!signature) return { ok: false, reason: 'malformed' };
  if (signature.length !== ES256_SIGNATURE_BYTES) return { ok: false, reason: 'bad_signature' };
  const typ = typeof header.typ === 'string' ? header.typ : undefined;
  return {
    ok: true,
    jws: {
      header: typ === undefined ? { alg: JWS_ALG, kid: header.kid } : { alg: JWS_ALG, kid: header.kid, typ },
      signingInput: `${headerSegment}.${payloadSegment}`,
      payloadSegment,
      signature,
    },
  };
}

export function verifyJwsSignature(jws: DecodedJws, publicKey: KeyObject): boolean {
  return verifyEs256Bytes(Buffer.from(jws.signingInput, 'ascii'), publicKey, jws.signature);
}

/** The payload as a JSON object, or null. Call only after the signature verified. */
export function decodeJwsPayload(jws: DecodedJws): Record<string, unknown> | null {
  return decodeJsonObject(jws.payloadSegment);
}

/** The JWS signing input `base64url(header).base64url(payload)` for header {alg: ES256, kid, typ: "JWT"}. */
function es256SigningInput(payload: object, kid: string): string {
  if (!KID_PATTERN.test(kid)) throw new TypeError(`kid ${JSON.stringify(kid)} does not match ${KID_PATTERN}`);
  const header = Buffer.from(JSON.stringify({ alg: JWS_ALG, kid, typ: 'JWT' })).toString('base64url');
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${header}.${body}`;
}

/** Signs `payload` as a compact ES256 JWS with header {alg, kid, typ: "JWT"}. */
export function signEs256(payload: object, kid: string, privateKey: KeyObject): string {
  const signingInput = es256SigningInput(payload, kid);
  const signature = signEs256Bytes(Buffer.from(signingInput, 'ascii'), privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}

/**
 * Like signEs256, with the signature made elsewhere (a key service): `sign` gets the
 * signing input and returns the JOSE r || s signature (64 bytes), which is checked for length.
 */
export async function signEs256With(payload: object, kid: string, sign: (signingInput: Buffer) => Promise<Buffer>): Promise<string> {
  const signingInput = es256SigningInput(payload, kid);
  const signature = await sign(Buffer.from(signingInput, 'ascii'));
  if (signature.length !== ES256_SIGNATURE_BYTES) throw new Error(`ES256 signature is ${signature.length} bytes, not ${ES256_SIGNATURE_BYTES}`);
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** A public P-256 JWK as published in the JWKS. */
export interface Es256PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  alg: typeof JWS_ALG;
  use: 'sig';
}

export function publicJwkOf(publicKey: KeyObject, kid: string): Es256PublicJwk {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y) throw new TypeError('not a P-256 public key');
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid, alg: JWS_ALG, use: 'sig' };
}

/**
 * Imports one JWKS entry as a verification key, or returns null when it is not an
 * ES256 signing key (other entries are skipped, never used for ES256 verification).
 */
export function importEs256Jwk(jwk: unknown): { kid: string; key: KeyObject } | null {
  if (typeof jwk !== 'object' || jwk === null) return null;
  const k = jwk as Record<string, unknown>;
  if (k.kty !== 'EC' || k.crv !== 'P-256' || typeof k.x !== 'string' || typeof k.y !== 'string') return null;
  // RFC 7518 §6.2.1.2-3: each coordinate is exactly 32 octets (OpenSSL alone would take a zero-padded 33).
  if (decodeBase64url(k.x)?.length !== P256_COORDINATE_BYTES || decodeBase64url(k.y)?.length !== P256_COORDINATE_BYTES) return null;
  if (typeof k.kid !== 'string' || !KID_PATTERN.test(k.kid)) return null;
  if (k.alg !== undefined && k.alg !== JWS_ALG) return null;
  if (k.use !== undefined && k.use !== 'sig') return null;
  if (k.d !== undefined) return null;
  try {
    const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: k.x, y: k.y } as JsonWebKey, format: 'jwk' });
    return { kid: k.kid, key };
  } catch {
    return null;
  }
}
