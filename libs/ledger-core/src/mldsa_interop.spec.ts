import { createHash, generateKeyPairSync } from 'node:crypto';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { formatCheckpoint, NoteSigner, NoteVerifier, openNote, signNote, SIG_TYPE } from './checkpoint';
import { leafHash } from './merkle';

/**
 * Checkpoints are signed with ML-DSA-65 (FIPS 204) through node:crypto (OpenSSL).
 * These tests check interoperability with the independent @noble/post-quantum
 * implementation in both directions, over real checkpoint notes and vkeys.
 */
const name = 'ctp.test/ledger/mldsa65';
const text = formatCheckpoint({ origin: 'ctp.test/ledger', size: 1234, root: leafHash(Buffer.from('interop')) });
const bytes = new Uint8Array(Buffer.from(text, 'utf8'));

/** The raw public key inside a vkey `<name>+<id>+<base64(type || key)>`. */
function rawKey(vkey: string): Uint8Array {
  const blob = Buffer.from(vkey.split('+').slice(2).join('+'), 'base64');
  expect(blob.subarray(0, SIG_TYPE.mldsa65.length)).toEqual(SIG_TYPE.mldsa65);
  return new Uint8Array(blob.subarray(SIG_TYPE.mldsa65.length));
}

describe('ML-DSA-65 checkpoint signatures interoperate with @noble/post-quantum', () => {
  it('a note signed with node:crypto verifies with noble ml_dsa65.verify', async () => {
    const signer = new NoteSigner(name, generateKeyPairSync('ml-dsa-65').privateKey);
    const note = await signNote(text, [signer]);
    const line = note.slice(note.lastIndexOf('\n\n') + 2, -1);
    const blob = Buffer.from(line.split(' ')[2]!, 'base64');
    expect(blob.subarray(0, 4)).toEqual(signer.verifier.id);
    const signature = new Uint8Array(blob.subarray(4));
    expect(signature.length).toBe(3309); // FIPS 204 ML-DSA-65 signature size
    const publicKey = rawKey(signer.verifier.toString());
    expect(publicKey.length).toBe(1952);
    expect(ml_dsa65.verify(signature, bytes, publicKey)).toBe(true);
    expect(ml_dsa65.verify(signature, new Uint8Array(Buffer.from(text.replace('1234', '1235'))), publicKey)).toBe(false);
  });

  it('a note signed with noble verifies with our verifier, built from a vkey encoded by hand', () => {
    const keys = ml_dsa65.keygen();
    const id = createHash('sha256').update(name).update(Buffer.from([0x0a])).update(SIG_TYPE.mldsa65).update(keys.publicKey).digest().subarray(0, 4);
    const vkey = `${name}+${id.toString('hex')}+${Buffer.concat([SIG_TYPE.mldsa65, keys.publicKey]).toString('base64')}`;
    const verifier = NoteVerifier.parse(vkey);
    expect(verifier.alg).toBe('mldsa65');
    const signature = ml_dsa65.sign(bytes, keys.secretKey);
    const note = `${text}\n— ${name} ${Buffer.concat([id, signature]).toString('base64')}\n`;
    expect(openNote(note, [verifier]).verifiedBy).toEqual([name]);
    expect(() => openNote(note.replace('\n1234\n', '\n1235\n'), [verifier])).toThrow(/does not verify/);
  });

  it("reads vkeys of CTP's former ML-DSA-65 signature type (0x06, which tlog-cosignature gives ML-DSA-44), so notes signed then still verify", () => {
    const keys = ml_dsa65.keygen();
    const legacy = Buffer.from([0x06]);
    const id = createHash('sha256').update(name).update(Buffer.from([0x0a])).update(legacy).update(keys.publicKey).digest().subarray(0, 4);
    const verifier = NoteVerifier.parse(`${name}+${id.toString('hex')}+${Buffer.concat([legacy, keys.publicKey]).toString('base64')}`);
    const note = `${text}\n— ${name} ${Buffer.concat([id, ml_dsa65.sign(bytes, keys.secretKey)]).toString('base64')}\n`;
    expect(openNote(note, [verifier]).verifiedBy).toEqual([name]);
    // A signer publishes both forms of its ML-DSA-65 key; the former one verifies the same old note.
    const signer = new NoteSigner(name, generateKeyPairSync('ml-dsa-65').privateKey);
    expect(signer.verifiers.map((v) => Buffer.from(v.toString().split('+').slice(2).join('+'), 'base64')[0])).toEqual([0xff, 0x06]);
    expect(signer.verifiers.map((v) => NoteVerifier.parse(v.toString()).id)).toEqual(signer.verifiers.map((v) => v.id));
  });
});
