import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { decodeBase64url, decodeCompactJws, decodeJwsPayload, importEs256Jwk, MAX_TOKEN_LENGTH, publicJwkOf, signEs256, verifyJwsSignature } from './jws';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const P256_N = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');

function decodeOk(token: string) {
  const r = decodeCompactJws(token);
  if (!r.ok) throw new Error(`expected ok, got ${r.reason}`);
  return r.jws;
}

describe('ES256 compact JWS', () => {
  const token = signEs256({ jti: 'a', n: 1 }, 'key-1', privateKey);

  it('round-trips and exposes the payload only through the decoded form', () => {
    const jws = decodeOk(token);
    expect(jws.header).toEqual({ alg: 'ES256', kid: 'key-1', typ: 'JWT' });
    expect(verifyJwsSignature(jws, publicKey)).toBe(true);
    expect(decodeJwsPayload(jws)).toEqual({ jti: 'a', n: 1 });
  });

  it('fails a tampered payload and a signature by another key', () => {
    const [h, , s] = token.split('.');
    expect(verifyJwsSignature(decodeOk(`${h}.${b64({ jti: 'b', n: 1 })}.${s}`), publicKey)).toBe(false);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(verifyJwsSignature(decodeOk(signEs256({ jti: 'a' }, 'key-1', other.privateKey)), publicKey)).toBe(false);
  });

  it('refuses alg none and HMAC (including HS256 keyed with the public key)', () => {
    expect(decodeCompactJws(`${b64({ alg: 'none', kid: 'key-1' })}.${b64({})}.`)).toEqual({ ok: false, reason: 'alg_not_allowed' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' });
    const input = `${b64({ alg: 'HS256', kid: 'key-1' })}.${b64({ jti: 'a' })}`;
    const mac = createHmac('sha256', pem).update(input).digest('base64url');
    expect(decodeCompactJws(`${input}.${mac}`)).toEqual({ ok: false, reason: 'alg_not_allowed' });
  });

  it('refuses crit and malformed kids, and ignores embedded keys', () => {
    const sig = token.split('.')[2];
    expect(decodeCompactJws(`${b64({ alg: 'ES256', kid: 'key-1', crit: ['exp'], exp: 1 })}.${b64({})}.${sig}`)).toEqual({
      ok: false,
      reason: 'crit_unsupported',
    });
    for (const kid of ['../../etc/passwd', "key' OR '1'='1", '', 7, 'k'.repeat(65)]) {
      expect(decodeCompactJws(`${b64({ alg: 'ES256', kid })}.${b64({})}.${sig}`)).toEqual({ ok: false, reason: 'unknown_kid' });
    }
    const withJku = decodeOk(`${b64({ alg: 'ES256', kid: 'key-1', jku: 'http://127.0.0.1:9/jwks', jwk: {}, x5u: 'x' })}.${b64({})}.${sig}`);
    expect(withJku.header).toEqual({ alg: 'ES256', kid: 'key-1' });
  });

  it('refuses non-base64url and non-JSON segments', () => {
    const sig = token.split('.')[2];
    for (const bad of [
      'abc',
      'a.b.c.d',
      `${b64('not json')}.${b64({})}.${sig}`,
      `${b64([1, 2])}.${b64({})}.${sig}`,
      `${b64({ alg: 'ES256', kid: 'k' })}+.${b64({})}.${sig}`,
      `${b64({ alg: 'ES256', kid: 'k' })}.${b64({})}.${sig}==`,
      `${b64({ alg: 'ES256', kid: 'k' })}.pay load.${sig}`,
    ]) {
      expect(decodeCompactJws(bad)).toEqual({ ok: false, reason: 'malformed' });
    }
    expect(decodeBase64url('QQ')).toEqual(Buffer.from('A'));
    expect(decodeBase64url('QR')).toBeNull();
  });

  it('refuses oversized tokens before parsing them', () => {
    expect(decodeCompactJws('a'.repeat(MAX_TOKEN_LENGTH + 1))).toEqual({ ok: false, reason: 'oversized' });
  });

  it('refuses DER signatures and Wycheproof-style malformed r, s', () => {
    const [h, p] = token.split('.') as [string, string];
    const der = sign('sha256', Buffer.from(`${h}.${p}`), privateKey);
    expect(decodeCompactJws(`${h}.${p}.${der.toString('base64url')}`)).toEqual({ ok: false, reason: 'bad_signature' });
    const zero = Buffer.alloc(64);
    const rIsN = Buffer.concat([P256_N, Buffer.alloc(31), Buffer.from([1])]);
    const sIsN = Buffer.concat([Buffer.alloc(31), Buffer.from([1]), P256_N]);
    for (const sig of [zero, rIsN, sIsN]) {
      expect(verifyJwsSignature(decodeOk(`${h}.${p}.${sig.toString('base64url')}`), publicKey)).toBe(false);
    }
  });

  it('imports only public P-256 JWKs', () => {
    const jwk = publicJwkOf(publicKey, 'key-1');
    expect(importEs256Jwk(jwk)?.kid).toBe('key-1');
    expect(importEs256Jwk({ ...jwk, alg: 'HS256' })).toBeNull();
    expect(importEs256Jwk({ ...jwk, kid: '../x' })).toBeNull();
    expect(importEs256Jwk({ ...jwk, d: 'secret' })).toBeNull();
    expect(importEs256Jwk({ ...jwk, x: 'AAAA' })).toBeNull();
    expect(importEs256Jwk({ kty: 'oct', k: 'x', kid: 'key-1' })).toBeNull();
  });
});
