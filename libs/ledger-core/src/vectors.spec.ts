import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { NoteSigner, NoteVerifier, openNote, parseCheckpoint, signNote } from './checkpoint';
import { LedgerVerificationError, type LedgerVerificationCode } from './errors';
import { leafHash, MerkleTree, rootFromRange, verifyConsistency, verifyInclusion, type Hash } from './merkle';
import { COMPACT_RANGES, CONSISTENCY_PROOFS, INCLUSION_PROOFS, LEAF_INPUTS, NODES, ROOTS } from './__fixtures__/rfc6962_vectors';
import * as note from './__fixtures__/signed_note_vectors';

const hex = (h: string): Hash => Buffer.from(h, 'hex');
const flip = (h: Hash, bit: number): Hash => {
  const copy = Buffer.from(h);
  copy[0]! ^= 1 << bit;
  return copy;
};
const leaves = LEAF_INPUTS.map((l) => leafHash(hex(l)));
const tree = new MerkleTree();
for (const leaf of leaves) tree.append(leaf);
const SOME_HASH = hex('abacaba000000000000000000000000000000000000000000060061e00123456');

function code(fn: () => unknown): LedgerVerificationCode {
  try {
    fn();
  } catch (error) {
    if (error instanceof LedgerVerificationError) return error.code;
    throw error;
  }
  throw new Error('accepted');
}

describe('RFC 6962 / Certificate Transparency reference vectors', () => {
  it('hashes the reference leaves and every reference root and perfect subtree', () => {
    expect(leaves).toEqual(NODES[0]!.map(hex));
    for (let n = 0; n <= 8; n++) expect([n, tree.root(n).toString('hex')]).toEqual([n, ROOTS[n]]);
  });

  it('gives each size the reference compact range, and rebuilds every root from any of them', () => {
    for (let n = 0; n <= 8; n++) {
      expect([n, tree.frontier(n)]).toEqual([n, COMPACT_RANGES[n]!.map(([level, i]) => hex(NODES[level]![i]!))]);
      for (let end = n; end <= 8; end++) expect(rootFromRange(n, tree.frontier(n), leaves.slice(n, end)).root.toString('hex')).toBe(ROOTS[end]);
    }
  });

  it.each(INCLUSION_PROOFS)('builds and verifies the reference inclusion proof of leaf $index in $size, and refuses every corruption', ({ index, size, proof }) => {
    const root = hex(ROOTS[size]!);
    const path = proof.map(hex);
    expect(tree.inclusionProof(index, size)).toEqual(path);
    expect(verifyInclusion(index, size, leaves[index]!, path, root)).toBe(true);
    const corrupted: [string, number, number, Hash, Hash[], Hash][] = [
      ['index - 1', index - 1, size, leaves[index]!, path, root],
      ['index + 1', index + 1, size, leaves[index]!, path, root],
      ['index ^ 2', index ^ 2, size, leaves[index]!, path, root],
      ['size * 2', index, size * 2, leaves[index]!, path, root],
      ['size / 2', index, Math.floor(size / 2), leaves[index]!, path, root],
      ['wrong leaf', index, size, Buffer.from('WrongLeaf'), path, root],
      ['empty root', index, size, leaves[index]!, path, hex(ROOTS[0]!)],
      ['random root', index, size, leaves[index]!, path, SOME_HASH],
      ['trailing garbage', index, size, leaves[index]!, [...path, Buffer.alloc(0)], root],
      ['trailing root', index, size, leaves[index]!, [...path, root], root],
      ['preceding garbage', index, size, leaves[index]!, [Buffer.alloc(0), ...path], root],
      ['preceding root', index, size, leaves[index]!, [root, ...path], root],
      ...path.map((_, i): [string, number, number, Hash, Hash[], Hash] => [`proof[${i}] bit 3`, index, size, leaves[index]!, path.map((p, j) => (j === i ? flip(p, 3) : p)), root]),
      ...(path.length > 0 ? [['removed component', index, size, leaves[index]!, path.slice(0, -1), root] as [string, number, number, Hash, Hash[], Hash]] : []),
      ...(path.length > 1 ? [['inserted component', index, size, leaves[index]!, [path[0]!, SOME_HASH, ...path.slice(1)], root] as [string, number, number, Hash, Hash[], Hash]] : []),
    ];
    for (const [desc, i, n, leaf, p, r] of corrupted) {
      if (desc === 'index ^ 2' && (index ^ 2) === index) continue;
      expect([desc, verifyInclusion(i, n, leaf, p, r)]).toEqual([desc, false]);
    }
  });

  it.each(CONSISTENCY_PROOFS)('builds and verifies the reference consistency proof from $first to $second, and refuses every corruption', ({ first, second, proof }) => {
    const [root1, root2] = [hex(ROOTS[first]!), hex(ROOTS[second]!)];
    const path = proof.map(hex);
    expect(tree.consistencyProof(first, second)).toEqual(path);
    expect(verifyConsistency(first, second, root1, root2, path)).toBe(true);
    if (path.length === 0) return;
    const corrupted: [string, number, number, Hash, Hash, Hash[]][] = [
      ['first - 1', first - 1, second, root1, root2, path],
      ['first + 1', first + 1, second, root1, root2, path],
      ['first ^ 2', first ^ 2, second, root1, root2, path],
      ['second * 2', first, second * 2, root1, root2, path],
      ['second / 2', first, Math.floor(second / 2), root1, root2, path],
      ['wrong root1', first, second, Buffer.from('WrongRoot'), root2, path],
      ['wrong root2', first, second, root1, Buffer.from('WrongRoot'), path],
      ['swapped roots', first, second, root2, root1, path],
      ['empty proof', first, second, root1, root2, []],
      ['trailing garbage', first, second, root1, root2, [...path, Buffer.alloc(0)]],
      ['trailing root1', first, second, root1, root2, [...path, root1]],
      ['trailing root2', first, second, root1, root2, [...path, root2]],
      ['preceding garbage', first, second, root1, root2, [Buffer.alloc(0), ...path]],
      ['preceding root1', first, second, root1, root2, [root1, ...path]],
      ['preceding root2', first, second, root1, root2, [root2, ...path]],
      ['preceding proof[0]', first, second, root1, root2, [path[0]!, ...path]],
      ['truncated proof', first, second, root1, root2, path.slice(0, -1)],
      ...path.map((_, i): [string, number, number, Hash, Hash, Hash[]] => [`proof[${i}] bit 4`, first, second, root1, root2, path.map((p, j) => (j === i ? flip(p, 4) : p))]),
    ];
    for (const [desc, m, n, r1, r2, p] of corrupted) expect([desc, verifyConsistency(m, n, r1, r2, p)]).toEqual([desc, false]);
  });
});

/** Go's signer key: PRIVATE+KEY+<name>+<id>+base64(0x01 || Ed25519 seed), as a node:crypto key. */
function goSigner(skey: string): NoteSigner {
  const [, , name, , ...encoded] = skey.split('+');
  const seed = Buffer.from(encoded.join('+'), 'base64').subarray(1);
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  return new NoteSigner(name!, createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
}

describe('signed notes: golang.org/x/mod/sumdb/note and C2SP vectors', () => {
  const peter = NoteVerifier.parse(note.PETER_VKEY);
  const enoch = NoteVerifier.parse(note.ENOCH_VKEY);

  it("derives Go's vkey from Go's signer key and signs the note byte for byte as note.Sign does", async () => {
    const signer = goSigner(note.PETER_SKEY);
    expect(signer.verifier.toString()).toBe(note.PETER_VKEY);
    expect(await signNote(note.TEXT, [signer])).toBe(note.PETER_SIGNED);
  });

  it('refuses every mangling of a vkey that note.NewVerifier refuses', () => {
    const vkey = note.PETER_VKEY;
    for (let i = 0; i <= vkey.length; i++) {
      for (let j = i + 1; j <= vkey.length; j++) if (i !== 0 || j !== vkey.length) expect([vkey.slice(i, j), code(() => NoteVerifier.parse(vkey.slice(i, j)))]).toEqual([vkey.slice(i, j), 'bad_key']);
    }
    for (let i = 0; i < vkey.length; i++) {
      const mangled = vkey.slice(0, i) + String.fromCharCode(vkey.charCodeAt(i) + 1) + vkey.slice(i + 1);
      expect([mangled, code(() => NoteVerifier.parse(mangled))]).toEqual([mangled, 'bad_key']);
    }
    for (const bad of note.BAD_VKEYS) expect([bad, code(() => NoteVerifier.parse(bad))]).toEqual([bad, 'bad_key']);
  });

  it('opens what note.Open opens: known signatures verify, unknown ones are skipped', () => {
    const both = `${note.TEXT}\n${note.PETER_SIG}${note.ENOCH_SIG}`;
    expect(openNote(both, [peter])).toEqual({ text: note.TEXT, verifiedBy: ['PeterNeumann'] });
    expect(openNote(both, [peter, enoch]).verifiedBy).toEqual(['PeterNeumann', 'EnochRoot']);
    expect(openNote(`${note.TEXT}\n${note.PETER_SIG}${note.PETER_SIG}${note.ENOCH_SIG}`, [peter]).verifiedBy).toEqual(['PeterNeumann', 'PeterNeumann']);
    expect(code(() => openNote(both, [], ['PeterNeumann']))).toBe('bad_signature');
  });

  it('refuses what note.Open refuses, and a tampered copy of each note', () => {
    const both = `${note.TEXT}\n${note.PETER_SIG}${note.ENOCH_SIG}`;
    const badSig = `${note.TEXT}\n${note.PETER_SIG.slice(0, 60)}ABCD${note.PETER_SIG.slice(60)}`;
    expect(code(() => openNote(badSig, [peter]))).toBe('bad_signature');
    for (const malformed of note.MALFORMED_NOTES) expect([malformed.slice(0, 30), code(() => openNote(malformed, [peter]))]).toEqual([malformed.slice(0, 30), 'bad_checkpoint']);
    expect(code(() => openNote(both.replace('problem,', 'problem;'), [peter]))).toBe('bad_signature');
    expect(code(() => openNote(both.replace('problem,', 'problem;'), [enoch]))).toBe('bad_signature');
  });

  it('separates the C2SP example note at its last empty line, and requires a trusted signature', () => {
    expect(openNote(note.C2SP_NOTE, [], [])).toEqual({ text: note.C2SP_NOTE_TEXT, verifiedBy: [] });
    const impostor = new NoteSigner('quasimodo.example/salvatore', generateKeyPairSync('ed25519').privateKey);
    expect(code(() => openNote(note.C2SP_NOTE, [impostor.verifier]))).toBe('bad_signature');
    expect(code(() => openNote(note.C2SP_NOTE.replace('sera.\n\n—', 'sera.\n—'), [], []))).toBe('bad_checkpoint');
  });

  it('parses the C2SP example checkpoint, also as cosigned by a witness, and refuses tampered bodies', () => {
    for (const signed of [note.C2SP_CHECKPOINT, note.C2SP_COSIGNED_CHECKPOINT]) {
      const opened = openNote(signed, [], []);
      expect(parseCheckpoint(opened.text)).toEqual({ ...note.C2SP_CHECKPOINT_BODY, root: Buffer.from(note.C2SP_CHECKPOINT_BODY.root, 'base64') });
    }
    const body = openNote(note.C2SP_CHECKPOINT, [], []).text;
    for (const tampered of [body.replace('\n20852163\n', '\n020852163\n'), body.replace('\n20852163\n', '\n-1\n'), body.replace('=\n', '\n'), `${body}\n`, body.replace('example.com/behind-the-sofa\n', '\n')]) {
      expect([tampered, code(() => parseCheckpoint(tampered))]).toEqual([tampered, 'bad_checkpoint']);
    }
  });
});
