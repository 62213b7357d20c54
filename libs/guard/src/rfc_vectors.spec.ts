// RFC 9421 Appendix B.2 and RFC 9530 examples, exactly as the RFCs print them (RFC 8792 line folding undone).
import { createHmac, createPrivateKey, createPublicKey } from 'node:crypto';
import { httpbis } from 'http-message-signatures';
import { signatureHeaders } from '@ctp/sdk';
import { checkContentDigest, contentDigest } from './content_digest';
import { verifyWith } from './keys';

/** B.1.3 test-key-ecc-p256 (public) and B.1.4 test-key-ed25519 (JWK of the RFC), B.2.5 test-shared-secret. */
const ECC_P256_PUBLIC = createPublicKey(
  '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lf\nw0EkjqF7xB4FivAxzic30tMM4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==\n-----END PUBLIC KEY-----\n',
);
const ED25519_JWK = { kty: 'OKP', crv: 'Ed25519', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs', d: 'n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU' };
const SHARED_SECRET = Buffer.from('uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==', 'base64');

/** B.2: the test request and the test response. */
const REQUEST = {
  method: 'POST',
  url: 'https://example.com/foo?param=Value&Pet=dog',
  headers: {
    host: 'example.com',
    date: 'Tue, 20 Apr 2021 02:07:55 GMT',
    'content-type': 'application/json',
    'content-digest': 'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:',
    'content-length': '18',
  } as Record<string, string>,
};
const REQUEST_BODY = Buffer.from('{"hello": "world"}');
const RESPONSE = {
  status: 200,
  headers: {
    date: 'Tue, 20 Apr 2021 02:07:56 GMT',
    'content-type': 'application/json',
    'content-digest': 'sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:',
    'content-length': '23',
  } as Record<string, string>,
};
const RESPONSE_BODY = Buffer.from('{"message": "good dog"}');

const keyFor = (keyid: string, verify: (data: Buffer, sig: Buffer) => boolean) => async (params: { keyid?: string }) =>
  params.keyid === keyid ? { id: keyid, verify: async (data: Buffer, sig: Buffer) => verify(data, sig) } : null;

describe('RFC 9421 Appendix B.2 vectors', () => {
  const B26_INPUT = 'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"';
  const B26_SIGNATURE = 'sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:';

  it('B.2.6 (ed25519): the SDK signer reproduces the RFC signature byte for byte', () => {
    const privateKey = createPrivateKey({ key: ED25519_JWK, format: 'jwk' });
    const headers = signatureHeaders(
      [
        ['date', REQUEST.headers.date!],
        ['@method', 'POST'],
        ['@path', '/foo'],
        ['@authority', 'example.com'],
        ['content-type', 'application/json'],
        ['content-length', '18'],
      ],
      [{ label: 'sig-b26', key: { keyid: 'test-key-ed25519', alg: 'Ed25519', privateKey } }],
      { created: 1618884473 },
    );
    expect(headers['Signature-Input']).toBe(B26_INPUT);
    expect(headers.Signature).toBe(B26_SIGNATURE);
  });

  it('B.2.6 (ed25519): http-message-signatures with the guard verifier accepts it, and refuses one changed byte', async () => {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: ED25519_JWK.x }, format: 'jwk' });
    const verify = (data: Buffer, sig: Buffer) => verifyWith({ alg: 'Ed25519', publicKey }, data, sig);
    const signed = { ...REQUEST, headers: { ...REQUEST.headers, 'signature-input': B26_INPUT, signature: B26_SIGNATURE } };
    await expect(httpbis.verifyMessage({ keyLookup: keyFor('test-key-ed25519', verify) }, signed)).resolves.toBe(true);
    const tampered = { ...signed, headers: { ...signed.headers, 'content-length': '19' } };
    await expect(httpbis.verifyMessage({ keyLookup: keyFor('test-key-ed25519', verify) }, tampered)).resolves.toBe(false);
  });

  it('B.2.4 (ecdsa-p256-sha256, a response): verifies with the guard ES256 verifier (IEEE P1363 r||s)', async () => {
    const signed = {
      ...RESPONSE,
      headers: {
        ...RESPONSE.headers,
        'signature-input': 'sig-b24=("@status" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-ecc-p256"',
        signature: 'sig-b24=:wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NKocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw==:',
      },
    };
    const verify = (data: Buffer, sig: Buffer) => verifyWith({ alg: 'ES256', publicKey: ECC_P256_PUBLIC }, data, sig);
    await expect(httpbis.verifyMessage({ keyLookup: keyFor('test-key-ecc-p256', verify) }, signed)).resolves.toBe(true);
    const tampered = { ...signed, headers: { ...signed.headers, 'content-type': 'text/plain' } };
    await expect(httpbis.verifyMessage({ keyLookup: keyFor('test-key-ecc-p256', verify) }, tampered)).resolves.toBe(false);
  });

  it('B.2.5 (hmac-sha256): the signature base the library builds is the RFC one', async () => {
    const signed = {
      ...REQUEST,
      headers: {
        ...REQUEST.headers,
        'signature-input': 'sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"',
        signature: 'sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:',
      },
    };
    const verify = (data: Buffer, sig: Buffer) => createHmac('sha256', SHARED_SECRET).update(data).digest().equals(sig);
    await expect(httpbis.verifyMessage({ keyLookup: keyFor('test-shared-secret', verify) }, signed)).resolves.toBe(true);
  });
});

describe('RFC 9530 examples', () => {
  it('computes the sha-256 and sha-512 Content-Digest of {"hello": "world"} as RFC 9530 and RFC 9421 print them', () => {
    expect(contentDigest(REQUEST_BODY, ['sha-256'])).toBe('sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:');
    expect(contentDigest(REQUEST_BODY, ['sha-512'])).toBe(REQUEST.headers['content-digest']);
    expect(contentDigest(REQUEST_BODY)).toBe(`sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, ${REQUEST.headers['content-digest']}`);
    expect(contentDigest(RESPONSE_BODY, ['sha-512'])).toBe(RESPONSE.headers['content-digest']);
  });

  it('checks every known algorithm, ignores unknown ones, and refuses a mismatch or a digest without sha-256/sha-512', () => {
    expect(checkContentDigest(REQUEST.headers['content-digest'], REQUEST_BODY)).toEqual({ ok: true, algorithms: ['sha-512'] });
    expect(checkContentDigest(`md5=:AAAA:, ${contentDigest(REQUEST_BODY)}`, REQUEST_BODY)).toEqual({ ok: true, algorithms: ['sha-256', 'sha-512'] });
    expect(checkContentDigest(REQUEST.headers['content-digest'], RESPONSE_BODY)).toMatchObject({ ok: false });
    expect(checkContentDigest(`sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:${Buffer.alloc(64).toString('base64')}:`, REQUEST_BODY)).toMatchObject({ ok: false });
    expect(checkContentDigest('md5=:AAAA:', REQUEST_BODY)).toMatchObject({ ok: false });
    expect(checkContentDigest('sha-256="not bytes"', REQUEST_BODY)).toMatchObject({ ok: false });
    expect(checkContentDigest('(((', REQUEST_BODY)).toMatchObject({ ok: false });
    expect(checkContentDigest(undefined, REQUEST_BODY)).toMatchObject({ ok: false });
  });
});
