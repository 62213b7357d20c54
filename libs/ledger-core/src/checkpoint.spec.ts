import { generateKeyPairSync } from 'node:crypto';
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

  it('signs with Ed25519 and ML-DSA-65 (hybrid) and verifies each, also from encoded verifier keys', () => {
    const note = signNote(formatCheckpoint(checkpoint), [ed, pq]);
    expect(note.split('\n— ')).toHaveLength(3);
    const verifiers = [NoteVerifier.parse(ed.verifier.toString()), NoteVerifier.parse(pq.verifier.toString())];
    expect(openNote(note, verifiers).verifiedBy).toEqual(['ctp.test/ledger', 'ctp.test/ledger-mldsa']);
    expect(openNote(note, [verifiers[0]!]).verifiedBy).toEqual(['ctp.test/ledger']);
  });

  it('rejects tampered text, forged signatures, missing required signers and bad verifier keys', () => {
    const note = signNote(formatCheckpoint(checkpoint), [ed]);
    expect(() => openNote(note.replace('\n42\n', '\n43\n'), [ed.verifier])).toThrow(/does not verify/);
    const forger = new NoteSigner('ctp.test/ledger', generateKeyPairSync('ed25519').privateKey);
    expect(() => openNote(signNote(formatCheckpoint(checkpoint), [forger]), [ed.verifier])).toThrow(/not signed by/);
    expect(() => openNote(note, [ed.verifier, pq.verifier])).toThrow(/not signed by ctp.test\/ledger-mldsa/);
    const [name, id] = ed.verifier.toString().split('+');
    expect(() => NoteVerifier.parse(ed.verifier.toString().replace(`${name}+${id}+`, `${name}+00000000+`))).toThrow(/does not match/);
  });
});
