import { generateKeyPairSync, sign, verify } from 'node:crypto';
import fc from 'fast-check';
import { crc32c } from '@ctp/ctp-core';
import { derToJoseEs256 } from './ecdsa_der';
import { credentials } from '@grpc/grpc-js';
import { CRYPTO_KEY_VERSION_PATTERN } from '@ctp/config';
import { kmsClientOptions, kmsKid, openTokenKeys } from './kms';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const int = (hex: string) => {
  const bytes = Buffer.from(hex, 'hex');
  return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
};
const seq = (...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
};
const hex32 = (n: bigint) => n.toString(16).padStart(64, '0');

describe('CRC32C', () => {
  it('matches the Castagnoli check values (RFC 3720 B.4 and the catalogue check string)', () => {
    expect(crc32c('123456789')).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe(0x46dd794e);
    expect(crc32c('')).toBe(0);
  });
});

describe('DER ECDSA signature to JOSE r || s', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  it('converts what node:crypto signs in DER into a JOSE signature that verifies', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        const der = sign('sha256', data, { key: privateKey, dsaEncoding: 'der' });
        const jose = derToJoseEs256(der);
        return jose.length === 64 && verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, jose);
      }),
      { numRuns: 300 },
    );
  });

  it('left-pads short integers and strips the sign byte', () => {
    const jose = derToJoseEs256(seq(int('01'), int(`00${hex32(N - 1n)}`)));
    expect(jose.toString('hex')).toBe(`${'0'.repeat(62)}01${hex32(N - 1n)}`);
  });

  it.each<[string, Buffer]>([
    ['empty', Buffer.alloc(0)],
    ['not a SEQUENCE', Buffer.concat([Buffer.from([0x31]), seq(int('01'), int('01')).subarray(1)])],
    ['a SEQUENCE length that does not match', Buffer.concat([seq(int('01'), int('01')), Buffer.from([0])])],
    ['a long-form length', Buffer.concat([Buffer.from([0x30, 0x81, 0x06]), int('01'), int('01')])],
    ['trailing bytes inside the SEQUENCE', seq(int('01'), int('01'), Buffer.from([0x05, 0x00]))],
    ['one INTEGER only', seq(int(hex32(5n)))],
    ['a non-INTEGER element', seq(Buffer.from([0x04, 0x01, 0x01]), int('01'))],
    ['zero r', seq(int('00'), int('01'))],
    ['zero s', seq(int('01'), int('00'))],
    ['r equal to the group order', seq(int(`00${hex32(N)}`), int('01'))],
    ['s above the group order', seq(int('01'), int(`00${hex32(N + 1n)}`))],
    ['a negative INTEGER', seq(int('ff'), int('01'))],
    ['a non-minimal INTEGER', seq(int('0001'), int('01'))],
    ['a 33-byte INTEGER', seq(int(`01${hex32(1n)}`), int('01'))],
    ['an INTEGER longer than the SEQUENCE', Buffer.from([0x30, 0x06, 0x02, 0x09, 0x01, 0x02, 0x01, 0x01])],
    ['a JOSE signature', Buffer.alloc(64, 1)],
  ])('rejects %s', (_what, der) => {
    expect(() => derToJoseEs256(der)).toThrow(/ECDSA signature/);
  });

  it('never returns anything but 64 bytes for arbitrary input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          return derToJoseEs256(bytes).length === 64;
        } catch (error) {
          return error instanceof Error && /ECDSA signature/.test(error.message);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('KMS key settings', () => {
  const version = 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';

  it('derives a stable kid per key version that fits the JWS kid rules', () => {
    expect(kmsKid(version)).toBe(kmsKid(version));
    expect(kmsKid(version)).not.toBe(kmsKid(version.replace(/1$/, '2')));
    expect(kmsKid(version)).toMatch(/^kms-[A-Za-z0-9_-]{16}$/);
    expect(CRYPTO_KEY_VERSION_PATTERN.test(version)).toBe(true);
    expect(CRYPTO_KEY_VERSION_PATTERN.test(version.replace(/\/cryptoKeyVersions\/1$/, ''))).toBe(false);
  });

  it('uses plaintext gRPC without Google credentials only for an explicit endpoint', () => {
    expect(kmsClientOptions(undefined, credentials)).toEqual({});
    expect(kmsClientOptions('127.0.0.1:9999', credentials)).toMatchObject({ servicePath: '127.0.0.1', port: 9999, sslCreds: expect.anything() });
    expect(kmsClientOptions('[::1]:9999', credentials)).toMatchObject({ servicePath: '::1', port: 9999 });
    expect(() => kmsClientOptions('localhost', credentials)).toThrow(/host:port/);
  });

  it('falls back to the local key directory, whose signer verifies like before', async () => {
    const { keys, close } = await openTokenKeys({ keyDir: join(mkdtempSync(join(tmpdir(), 'ctp-tk-')), 'keys') });
    const signer = await keys.signer();
    const data = Buffer.from('header.payload');
    const signature = await signer.sign(data);
    expect(signer.alg).toBe('ES256');
    expect(verify('sha256', data, { key: keys.cached(signer.kid)!, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
    expect(signer.publicKey.export({ format: 'jwk' })).toMatchObject({ x: keys.jwks().keys[0]!.x });
    await close();
    await expect(openTokenKeys({ keyDir: '/nonexistent', kmsEndpoint: '127.0.0.1:1' })).rejects.toThrow(/need CTP_KMS_KEY/);
  });
});
