import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { formatCheckpoint, NoteSigner, NoteVerifier, openNote, parseCheckpoint, signNote } from './checkpoint';
import { leafHash } from './merkle';

const ed = new NoteSigner('ctp.test/ledger', generateKeyPairSync('ed25519').privateKey);
const pq = new NoteSigner('ctp.test/ledger-mldsa', generateKeyPairSync('ml-dsa-65').privateKey);
const checkpoint = { origin: 'ctp.test/ledger', size: 42, root: leafHash(Buffer.from('x')) };

describe('signed checkpoints', () => {
  it('formats and parses the tlog-checkpoint body', () => {
    const text = formatCheckpoint(checkpoint);
    expect(text).toBe(`ctp.test/ledger\n42\n${checkpoint.root.toString('base64')}\n`);
    expect(parseCheckpoint(text)).toEqual(checkpoint);
    expect(() => parseCheckpoint('ctp\n-1\nAAAA\n')).toThrow();
  });

  it('signs with Ed25519 and ML-DSA-65 (hybrid) and verifies each, also from encoded verifier keys', async () => {
    const note = await signNote(formatCheckpoint(checkpoint), [ed, pq]);
    expect(note.split('\n— ')).toHaveLength(3);
    const verifiers = [NoteVerifier.parse(ed.verifier.toString()), NoteVerifier.parse(pq.verifier.toString())];
    expect(openNote(note, verifiers).verifiedBy).toEqual(['ctp.test/ledger', 'ctp.test/ledger-mldsa']);
    expect(openNote(note, [verifiers[0]!]).verifiedBy).toEqual(['ctp.test/ledger']);
  });

  it('signs through an async key (a key service) the same way as through a local key', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const signed: Buffer[] = [];
    const remote = new NoteSigner('ctp.test/ledger', {
      publicKey: createPublicKey(privateKey),
      sign: async (data) => {
        signed.push(data);
        await new Promise((r) => setImmediate(r));
        return sign(null, data, privateKey);
      },
    });
    const text = formatCheckpoint(checkpoint);
    const note = await signNote(text, [remote, pq]);
    expect(signed).toEqual([Buffer.from(text)]);
    expect(openNote(note, [remote.verifier, pq.verifier]).verifiedBy).toEqual(['ctp.test/ledger', 'ctp.test/ledger-mldsa']);
    expect(remote.verifier.toString()).toBe(new NoteSigner('ctp.test/ledger', privateKey).verifier.toString());
  });

  it('rejects tampered text, forged signatures, missing required signers and bad verifier keys', async () => {
    const note = await signNote(formatCheckpoint(checkpoint), [ed]);
    expect(() => openNote(note.replace('\n42\n', '\n43\n'), [ed.verifier])).toThrow(/does not verify/);
    const forger = new NoteSigner('ctp.test/ledger', generateKeyPairSync('ed25519').privateKey);
    const forged = await signNote(formatCheckpoint(checkpoint), [forger]);
    expect(() => openNote(forged, [ed.verifier])).toThrow(/not signed by/);
    expect(() => openNote(note, [ed.verifier, pq.verifier])).toThrow(/not signed by ctp.test\/ledger-mldsa/);
    const [name, id] = ed.verifier.toString().split('+');
    expect(() => NoteVerifier.parse(ed.verifier.toString().replace(`${name}+${id}+`, `${name}+00000000+`))).toThrow(/does not match/);
  });
});
