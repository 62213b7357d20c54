import { generateKeyPairSync, sign } from 'node:crypto';
import { decodeCompactJws, importEs256Jwk, publicJwkOf, signEs256, verifyJwsSignature, type DecodedJws } from './jws';

/**
 * Wycheproof-style malformed ES256 signatures (the kinds of edge values Project
 * Wycheproof's ecdsa_secp256r1_sha256_p1363 vectors exercise), built from a real
 * token: every one is refused, by decodeCompactJws (`malformed`, `bad_signature`
 * on length) or by verifyJwsSignature (false, which the introspector reports as
 * `bad_signature`).
 */
const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const P = BigInt('0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff');
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const token = signEs256({ jti: 'c0b3e1f8-4567-4890-abcd-1234567890ab', n: 1 }, 'key-1', privateKey);
const [header, payload, signature] = token.split('.') as [string, string, string];
const raw = Buffer.from(signature, 'base64url');
const r = BigInt(`0x${raw.subarray(0, 32).toString('hex')}`);
const s = BigInt(`0x${raw.subarray(32).toString('hex')}`);

const int32 = (v: bigint) => Buffer.from(v.toString(16).padStart(64, '0'), 'hex');
const rs = (rv: bigint, sv: bigint) => Buffer.concat([int32(rv), int32(sv)]);
const withSignature = (sig: Buffer) => `${header}.${payload}.${sig.toString('base64url')}`;

function decoded(t: string): DecodedJws {
  const result = decodeCompactJws(t);
  if (!result.ok) throw new Error(`expected the structure to pass, got ${result.reason}`);
  return result.jws;
}

describe('ES256 verification refuses malformed signatures', () => {
  it('verifies the untouched token (the baseline every case below changes)', () => {
    expect(verifyJwsSignature(decoded(token), publicKey)).toBe(true);
  });

  const outOfRange: [string, Buffer][] = [
    ['r = 0', rs(0n, s)],
    ['s = 0', rs(r, 0n)],
    ['r = s = 0', rs(0n, 0n)],
    ['r = n', rs(N, s)],
    ['s = n', rs(r, N)],
    ['r = s = n', rs(N, N)],
    ['r = n + 1', rs(N + 1n, s)],
    ['s = n + 1', rs(r, N + 1n)],
    ['r = p (> n)', rs(P, s)],
    ['s = p (> n)', rs(r, P)],
    ['r = 2^256 - 1', rs(2n ** 256n - 1n, s)],
    ['s = 2^256 - 1', rs(r, 2n ** 256n - 1n)],
    ['r = s = 2^256 - 1', Buffer.alloc(64, 0xff)],
    ['r = n - 1', rs(N - 1n, s)],
    ['s = n - 1', rs(r, N - 1n)],
    ['r = 1, s = 1', rs(1n, 1n)],
    ['r = 1, s = n - 1', rs(1n, N - 1n)],
    ['r, s swapped', rs(s, r)],
    ['r + 1', rs((r + 1n) % N, s)],
    ['s + 1', rs(r, (s + 1n) % N)],
    ['r - n wrapped to 256 bits', rs((r - N + 2n ** 256n) % 2n ** 256n, s)],
  ];

  it.each(outOfRange)('%s: does not verify', (_name, sig) => {
    expect(sig).toHaveLength(64);
    expect(verifyJwsSignature(decoded(withSignature(sig)), publicKey)).toBe(false);
  });

  it('refuses wrong lengths before verifying: 63, 65, 128 bytes and DER as bad_signature, an empty signature as malformed', () => {
    const der = sign('sha256', Buffer.from(`${header}.${payload}`), { key: privateKey, dsaEncoding: 'der' });
    for (const sig of [raw.subarray(0, 63), Buffer.concat([raw, Buffer.from([0])]), Buffer.concat([Buffer.from([0]), raw]), Buffer.concat([raw, raw]), der, Buffer.alloc(32)]) {
      expect(decodeCompactJws(withSignature(sig))).toEqual({ ok: false, reason: 'bad_signature' });
    }
    expect(decodeCompactJws(`${header}.${payload}.`)).toEqual({ ok: false, reason: 'malformed' });
    // padded or non-canonical base64url of the right signature
    expect(decodeCompactJws(`${header}.${payload}.${signature}=`)).toEqual({ ok: false, reason: 'malformed' });
    expect(decodeCompactJws(`${header}.${payload}.${raw.toString('base64')}`).ok && /[+/]/.test(raw.toString('base64'))).toBe(false);
  });

  it('refuses a valid signature of another message, and one by another key', () => {
    const other = signEs256({ jti: 'c0b3e1f8-4567-4890-abcd-1234567890ab', n: 2 }, 'key-1', privateKey);
    expect(verifyJwsSignature(decoded(withSignature(Buffer.from(other.split('.')[2]!, 'base64url'))), publicKey)).toBe(false);
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(verifyJwsSignature(decoded(signEs256({ jti: 'x' }, 'key-1', stranger.privateKey)), publicKey)).toBe(false);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const input = `${header}.${payload}`;
    const p384sig = sign('sha256', Buffer.from(input), { key: p384.privateKey, dsaEncoding: 'ieee-p1363' });
    expect(decodeCompactJws(`${input}.${p384sig.toString('base64url')}`)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  /**
   * ECDSA is malleable: (r, n - s) verifies whenever (r, s) does, and RFC 7518 does
   * not require low-S, nor does node:crypto enforce it. CTP accepts both forms on
   * purpose: signatures from KMS or any other ES256 signer may be high-S, and
   * nothing keys on the signature bytes. A malleated token is a different string
   * (a separate cache entry) carrying the same signed claims, so the same jti:
   * revocation, replay and ledger checks are by jti and apply to it unchanged.
   */
  it('accepts the high-S twin of a valid signature (documented: JOSE does not require low-S)', () => {
    const twin = rs(r, N - s);
    expect(twin.equals(raw)).toBe(false);
    const jws = decoded(withSignature(twin));
    expect(verifyJwsSignature(jws, publicKey)).toBe(true);
    expect(jws.payloadSegment).toBe(payload);
  });
});

describe('JWK import refuses public keys that are not points of P-256', () => {
  const good = publicJwkOf(publicKey, 'key-1');
  const coordinate = (v: bigint) => Buffer.from(v.toString(16).padStart(64, '0'), 'hex').toString('base64url');
  const x = BigInt(`0x${Buffer.from(good.x, 'base64url').toString('hex')}`);
  const y = BigInt(`0x${Buffer.from(good.y, 'base64url').toString('hex')}`);

  const invalid: [string, Record<string, unknown>][] = [
    ['(0, 0), the usual stand-in for the point at infinity', { x: coordinate(0n), y: coordinate(0n) }],
    ['a point off the curve (y + 1): an invalid-curve point', { y: coordinate((y + 1n) % P) }],
    ['(1, 1): on another curve with the same a', { x: coordinate(1n), y: coordinate(1n) }],
    ['x = p', { x: coordinate(P) }],
    ['y = p + y (non-reduced coordinate)', { y: Buffer.from((P + y).toString(16).padStart(66, '0'), 'hex').toString('base64url') }],
    ['x of 31 bytes', { x: Buffer.from(good.x, 'base64url').subarray(1).toString('base64url') }],
    ['x of 33 bytes (a leading zero: RFC 7518 wants exactly the coordinate size)', { x: Buffer.concat([Buffer.from([0]), Buffer.from(good.x, 'base64url')]).toString('base64url') }],
    ['y missing', { y: undefined }],
    ['a P-384 key labelled P-256', (() => {
      const k = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' });
      return { x: k.x, y: k.y };
    })()],
    ['crv P-384', { crv: 'P-384' }],
    ['kty RSA', { kty: 'RSA' }],
  ];

  it.each(invalid)('%s', (_name, change) => {
    expect(x).toBeGreaterThan(0n);
    expect(importEs256Jwk({ ...good, ...change })).toBeNull();
  });

  it('still imports the genuine key', () => {
    expect(importEs256Jwk(good)?.kid).toBe('key-1');
  });
});
