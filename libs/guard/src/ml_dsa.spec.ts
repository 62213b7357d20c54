// ML-DSA-65 (FIPS 204) as the guard verifies it (node:crypto), cross-checked against liboqs itself
// (@oqs/liboqs-js, the Open Quantum Safe WASM build) and @noble/post-quantum, in both directions.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { REPO_ROOT } from '@ctp/testing';
import { jwkThumbprint, verifyWith } from './keys';

const MESSAGE = Buffer.from('"@method": POST\n"@signature-params": ("@method");created=1;keyid="demo-mldsa"');

/**
 * liboqs is ESM-only with an `import`-only export map (Jest's CommonJS cannot resolve it), so it runs in a
 * child Node process: it verifies our signature with our public key, and signs with its own fresh key.
 */
function liboqs(publicKey: Buffer, signature: Buffer): { verified: boolean; publicKey: Buffer; signature: Buffer } {
  const script = `
    import { createMLDSA65 } from '@oqs/liboqs-js';
    const input = JSON.parse(process.argv[1]);
    const hex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));
    const sig = await createMLDSA65();
    const message = hex(input.message);
    const verified = sig.verify(message, hex(input.signature), hex(input.publicKey));
    const { publicKey, secretKey } = sig.generateKeyPair();
    const own = sig.sign(message, secretKey);
    sig.destroy();
    process.stdout.write(JSON.stringify({ verified, publicKey: Buffer.from(publicKey).toString('hex'), signature: Buffer.from(own).toString('hex') }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify({ message: MESSAGE.toString('hex'), publicKey: publicKey.toString('hex'), signature: signature.toString('hex') })], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const parsed = JSON.parse(out) as { verified: boolean; publicKey: string; signature: string };
  return { verified: parsed.verified, publicKey: Buffer.from(parsed.publicKey, 'hex'), signature: Buffer.from(parsed.signature, 'hex') };
}

const publicKeyFromRaw = (raw: Uint8Array) => createPublicKey({ key: { kty: 'AKP', alg: 'ML-DSA-65', pub: Buffer.from(raw).toString('base64url') }, format: 'jwk' });

describe('ML-DSA-65 across node:crypto, liboqs and @noble/post-quantum', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ml-dsa-65');
  const jwk = publicKey.export({ format: 'jwk' }) as { kty: string; alg: string; pub: string };
  const rawPublic = Buffer.from(jwk.pub, 'base64url');
  const ours = sign(null, MESSAGE, privateKey);

  it('exports the JOSE key type AKP with alg ML-DSA-65 and FIPS 204 sizes (1,952-byte key, 3,309-byte signature)', () => {
    expect([jwk.kty, jwk.alg, rawPublic.length, ours.length]).toEqual(['AKP', 'ML-DSA-65', 1952, 3309]);
    expect(jwkThumbprint({ kty: 'AKP', alg: 'ML-DSA-65', pub: jwk.pub })).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('liboqs verifies a node:crypto signature, and the guard verifier accepts a liboqs one (and refuses it altered)', () => {
    const oqs = liboqs(rawPublic, ours);
    expect(oqs.verified).toBe(true);
    const oqsKey = { alg: 'ML-DSA-65' as const, publicKey: publicKeyFromRaw(oqs.publicKey) };
    expect(verifyWith(oqsKey, MESSAGE, oqs.signature)).toBe(true);
    const altered = Buffer.from(oqs.signature);
    altered.writeUInt8(altered.readUInt8(100) ^ 1, 100);
    expect(verifyWith(oqsKey, MESSAGE, altered)).toBe(false);
    expect(liboqs(rawPublic, altered).verified).toBe(false);
  });

  it('@noble/post-quantum derives the same key from the same seed, and both verify each other', () => {
    const seed = Buffer.from((privateKey.export({ format: 'jwk' }) as { priv: string }).priv, 'base64url');
    const noble = ml_dsa65.keygen(Uint8Array.from(seed));
    expect(Buffer.from(noble.publicKey).equals(rawPublic)).toBe(true);
    expect(ml_dsa65.verify(Uint8Array.from(ours), Uint8Array.from(MESSAGE), noble.publicKey)).toBe(true);
    const nobleSig = ml_dsa65.sign(Uint8Array.from(MESSAGE), noble.secretKey);
    expect(verifyWith({ alg: 'ML-DSA-65', publicKey }, MESSAGE, nobleSig)).toBe(true);
    const fromSeed = createPrivateKey({ key: { kty: 'AKP', alg: 'ML-DSA-65', pub: jwk.pub, priv: seed.toString('base64url') }, format: 'jwk' });
    expect(verifyWith({ alg: 'ML-DSA-65', publicKey }, MESSAGE, sign(null, MESSAGE, fromSeed))).toBe(true);
  });
});
