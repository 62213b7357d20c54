import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { signEs256Bytes, verifyEs256Bytes } from './es256';

/** node:crypto's own r || s handling is the oracle; ours must agree with it byte for byte. */
describe('ES256 r || s signatures through DER', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;

  it('agrees with dsaEncoding ieee-p1363 both ways, over enough signatures to meet short r and s', () => {
    let short = 0;
    for (let i = 0; i < 3000; i++) {
      const data = randomBytes(1 + (i % 97));
      const ours = signEs256Bytes(data, privateKey);
      expect(ours).toHaveLength(64);
      expect(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, ours)).toBe(true);
      const theirs = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      expect(verifyEs256Bytes(data, publicKey, theirs)).toBe(true);
      // A leading zero byte in r or s: the DER integer is shorter (or, top bit set, padded).
      if (ours[0] === 0 || ours[32] === 0 || theirs[0] === 0 || theirs[32] === 0) short++;
    }
    expect(short).toBeGreaterThan(0);
  });

  it('refuses what ieee-p1363 refuses: other lengths, tampering, another key, r or s zero or all ones', () => {
    const data = Buffer.from('signing input');
    const good = signEs256Bytes(data, privateKey);
    const oracle = (signature: Buffer) => {
      try {
        return verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
      } catch {
        return false;
      }
    };
    const der = sign('sha256', data, privateKey);
    const flipped = Buffer.from(good);
    flipped[63] = flipped[63]! ^ 1;
    const cases = [
      Buffer.alloc(0),
      good.subarray(0, 63),
      Buffer.concat([good, Buffer.from([0])]),
      der,
      flipped,
      Buffer.alloc(64),
      Buffer.alloc(64, 0xff),
      Buffer.concat([Buffer.alloc(32), good.subarray(32)]),
      Buffer.concat([good.subarray(0, 32), Buffer.alloc(32)]),
    ];
    for (const signature of cases) expect(verifyEs256Bytes(data, publicKey, signature)).toBe(oracle(signature));
    expect(cases.map((s) => verifyEs256Bytes(data, publicKey, s)).every((ok) => !ok)).toBe(true);
    expect(verifyEs256Bytes(data, other, good)).toBe(false);
    expect(verifyEs256Bytes(data, publicKey, good)).toBe(true);
  });
});
