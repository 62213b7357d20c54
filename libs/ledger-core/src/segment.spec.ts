import { generateKeyPairSync } from 'node:crypto';
import { gunzipSync } from 'fflate';
import { canonicalEntry, chainHash, entryLeaf, GENESIS_HASH, type LedgerEntry } from './chain';
import { formatCheckpoint, NoteSigner, signNote } from './checkpoint';
import { MerkleTree } from './merkle';
import { LedgerVerificationError } from './errors';
import { encodeSegmentData, leavesFile, readSegment, SEGMENT_FORMAT, sha256Hex, type SegmentManifest } from './segment';

const origin = 'ctp.test/segment';
const signer = new NoteSigner(origin, generateKeyPairSync('ed25519').privateKey);
const other = new NoteSigner(origin, generateKeyPairSync('ed25519').privateKey);
const b64 = (h: Buffer) => h.toString('base64');

// 20 entries; the segment holds seq 6..13, the checkpoint is at 20.
const canonicals = Array.from({ length: 20 }, (_, i) => canonicalEntry({ seq: i + 1, type: 'consent.issued', recorded_at: '2025-01-10T10:00:00.000Z', event_id: `e${i}`, data: { n: i } } as LedgerEntry));
const hashes: Buffer[] = [];
canonicals.reduce((prev, c) => {
  const h = chainHash(prev, c);
  hashes.push(h);
  return h;
}, GENESIS_HASH);
const tree = new MerkleTree();
for (const c of canonicals) tree.append(entryLeaf(c));
let note: string;
beforeAll(async () => {
  note = await signNote(formatCheckpoint({ origin, size: 20, root: tree.root(20) }), [signer]);
});

function segment(level = 6, slice = canonicals.slice(5, 13)) {
  const data = encodeSegmentData(slice, level);
  const manifest: SegmentManifest = {
    format: SEGMENT_FORMAT,
    origin,
    name: 'ledger_entries_p202501.0000',
    partition: 'ledger_entries_p202501',
    tier: 'warm',
    range: { from: '2025-01-01T00:00:00.000Z', to: '2025-02-01T00:00:00.000Z' },
    first_seq: 6,
    last_seq: 13,
    count: 8,
    prev_entry_hash: b64(hashes[4]!),
    last_entry_hash: b64(hashes[12]!),
    frontier: tree.frontier(5).map(b64),
    checkpoint: { size: 20, note },
    range_consistency: tree.consistencyProof(13, 20).map(b64),
    data: { file: 'ledger_entries_p202501.0000.jsonl.gz', encoding: 'gzip', level, bytes: data.length, sha256: sha256Hex(data) },
    sealed_at: '2025-06-15T00:00:00.000Z',
  };
  return { manifest, data };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LedgerVerificationError);
    return (error as LedgerVerificationError).code;
  }
  throw new Error('the segment verified');
}

describe('ledger segments', () => {
  it('round-trips the exact entry bytes and hashes, whatever the compression level', () => {
    for (const level of [1, 9]) {
      const { manifest, data } = segment(level);
      const entries = readSegment(manifest, data, { verifiers: [signer.verifier] });
      expect(entries.map((e) => e.canonical)).toEqual(canonicals.slice(5, 13));
      expect(entries.map((e) => e.entryHash)).toEqual(hashes.slice(5, 13));
      expect(leavesFile(entries)).toEqual(Buffer.concat(canonicals.slice(5, 13).map(entryLeaf)));
      expect(Buffer.from(gunzipSync(data)).toString().split('\n')).toHaveLength(9);
    }
    // Deterministic: the same entries give the same bytes.
    expect(segment().data).toEqual(segment().data);
  });

  it('catches every kind of damage', () => {
    const { manifest, data } = segment();
    const flipped = Buffer.from(data);
    flipped[20]! ^= 1;
    expect(code(() => readSegment(manifest, flipped))).toBe('digest_mismatch');
    const reseal = (slice: Buffer[]) => {
      const s = segment(6, slice);
      return () => readSegment({ ...manifest, data: s.manifest.data }, s.data);
    };
    const edited = [...canonicals.slice(5, 13)];
    edited[3] = Buffer.from(edited[3]!.toString().replace('"n":8', '"n":9'));
    expect(code(reseal(edited))).toBe('broken_chain');
    expect(code(reseal([canonicals[6]!, canonicals[5]!, ...canonicals.slice(7, 13)]))).toBe('entry_order');
    expect(code(reseal(canonicals.slice(5, 12)))).toBe('entry_count');
    expect(code(reseal([...canonicals.slice(5, 12), Buffer.from(' ' + canonicals[12]!.toString())]))).toBe('bad_entry');
    expect(code(() => readSegment({ ...manifest, frontier: tree.frontier(4).map(b64) }, data))).toBe('bad_frontier');
    expect(code(() => readSegment({ ...manifest, frontier: [b64(Buffer.alloc(32)), ...manifest.frontier.slice(1)] }, data))).toBe('not_in_checkpoint');
    expect(code(() => readSegment({ ...manifest, range_consistency: manifest.range_consistency.slice(1) }, data))).toBe('not_in_checkpoint');
    expect(code(() => readSegment(manifest, data, { verifiers: [other.verifier] }))).toBe('bad_signature');
    expect(code(() => readSegment({ ...manifest, origin: 'elsewhere' }, data))).toBe('wrong_origin');
    expect(code(() => readSegment({ ...manifest, format: 'x' as never }, data))).toBe('bad_manifest');
  });
});
