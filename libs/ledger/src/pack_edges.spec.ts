import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { MemoryBus } from '@ctp/bus';
import { LedgerVerificationError, NoteSigner, verifyPack, type PackManifest } from '@ctp/ledger-core';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded';
import { buildPack } from './pack_export';
import { LedgerStore } from './store';
import { ensurePartitions } from './tiers/partitions';
import { LedgerWriter } from './writer';

/**
 * A pack proves its own completeness: dropping entries at either edge of a date-scoped
 * pack, and recomputing every Merkle value the manifest holds so the rest still
 * verifies, fails `incomplete_range` (issue 10, item 4).
 */
const ORIGIN = 'ctp.test/edges';
const signer = new NoteSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);
const keys = { trustedKeys: [signer.verifier] };
const at = (iso: string) => new Date(iso);
const b64 = (h: Buffer) => h.toString('base64');

let embedded: EmbeddedPostgres;
let store: LedgerStore;
let writer: LedgerWriter;
beforeAll(async () => {
  embedded = await startEmbeddedPostgres();
  store = await LedgerStore.open(embedded.url, { schema: `edges_${randomBytes(4).toString('hex')}`, max: 1 });
  await ensurePartitions(store.sql, at('2026-03-01T00:00:00Z'), 0);
  // seq 1-3 on day 1, 4-8 on day 2 (the range), 9-10 on day 3.
  let n = 0;
  for (const [day, count] of [['2026-03-01', 3], ['2026-03-02', 5], ['2026-03-03', 2]] as const) {
    await store.append(Array.from({ length: count }, () => ({ eventId: `e${n}`, type: 'consent.issued', data: { jti: `00000000-0000-4000-8000-${String(n++).padStart(12, '0')}` } })), at(`${day}T12:00:00Z`));
  }
  writer = new LedgerWriter({ store, bus: new MemoryBus(), signers: [signer], origin: ORIGIN });
  await writer.load();
  await writer.checkpoint();
});
afterAll(async () => {
  await store.close();
  await embedded.close();
});

const day2 = () => buildPack({ store, view: writer, verifiers: [signer.verifier], origin: ORIGIN }, at('2026-03-02T00:00:00Z'), at('2026-03-03T00:00:00Z'));

function code(zip: Uint8Array): string {
  try {
    verifyPack(zip, keys);
  } catch (error) {
    expect(error).toBeInstanceOf(LedgerVerificationError);
    return (error as LedgerVerificationError).code;
  }
  return 'ok';
}

/** Keeps entries [first, last] of the pack (0/0: none) and recomputes every Merkle value of the manifest from the real tree, as a forger with the database would. */
async function trim(pack: Uint8Array, first: number, last: number, edit: (m: PackManifest) => void = () => undefined): Promise<Uint8Array> {
  const files = unzipSync(pack);
  const manifest = JSON.parse(strFromU8(files['manifest.json']!)) as PackManifest;
  const lines = (name: string) => strFromU8(files[name]!).split('\n').slice(0, -1);
  const keep = (name: string) => {
    const kept = lines(name).filter((_, i) => manifest.first_seq + i >= first && manifest.first_seq + i <= last);
    files[name] = strToU8(kept.map((l) => `${l}\n`).join(''));
  };
  keep('entries.jsonl');
  keep('entry_hashes.txt');
  const size = manifest.checkpoint_size;
  const tree = writer.tree;
  Object.assign(manifest, {
    first_seq: first,
    last_seq: last,
    prev_entry_hash: b64(await store.hashBefore(first || 1)),
    frontier: first > 0 ? tree.frontier(first - 1).map(b64) : [],
    range_consistency: first > 0 ? tree.consistencyProof(last, size).map(b64) : [],
  });
  edit(manifest);
  files['manifest.json'] = strToU8(JSON.stringify(manifest));
  files['inclusion_proofs.jsonl'] = strToU8(
    Array.from({ length: last === 0 ? 0 : last - first + 1 }, (_, i) => `${JSON.stringify({ seq: first + i, proof: tree.inclusionProof(first + i - 1, size).map(b64) })}\n`).join(''),
  );
  return zipSync(files);
}

describe('compliance pack completeness', () => {
  it('proves a date-scoped range closed at both ends with the entries just outside it', async () => {
    const pack = await day2();
    const summary = verifyPack(pack, keys);
    expect(summary).toMatchObject({ firstSeq: 4, lastSeq: 8, entries: 5, boundaries: { before: 3, after: 9 }, openEnd: false });
  });

  it('untouched but re-zipped with recomputed values, the pack still verifies (the tampering below is all there is)', async () => {
    expect(code(await trim(await day2(), 4, 8))).toBe('ok');
  });

  it.each([
    ['the first entry dropped', 5, 8],
    ['the last entry dropped', 4, 7],
    ['both edges dropped', 5, 7],
  ])('catches %s, the Merkle values recomputed', async (_name, first, last) => {
    expect(code(await trim(await day2(), first, last))).toBe('incomplete_range');
  });

  it('catches every entry dropped (an "empty" range), even with adjacent-looking boundaries', async () => {
    const pack = await day2();
    expect(code(await trim(pack, 0, 0))).toBe('incomplete_range');
    // The forger also moves the boundaries next to each other: the one after is then inside the range.
    const forged = await trim(pack, 0, 0, (m) => {
      const files = unzipSync(pack);
      const entry4 = strFromU8(files['entries.jsonl']!).split('\n')[0]!;
      m.boundaries.after = { entry: entry4, inclusion: writer.tree.inclusionProof(3, m.checkpoint_size).map(b64) };
    });
    expect(code(forged)).toBe('incomplete_range');
  });

  it('catches a boundary replaced by an entry that is not in the checkpoint', async () => {
    const pack = await trim(await day2(), 4, 8, (m) => {
      m.boundaries.before = { ...m.boundaries.before!, inclusion: m.boundaries.before!.inclusion.slice(1) };
    });
    expect(code(pack)).toBe('incomplete_range');
  });

  it('proves an empty range by two adjacent entries around it, and the ranges at the log edges', async () => {
    const gap = await buildPack({ store, view: writer, verifiers: [signer.verifier], origin: ORIGIN }, at('2026-03-01T13:00:00Z'), at('2026-03-01T14:00:00Z'));
    expect(verifyPack(gap, keys)).toMatchObject({ entries: 0, boundaries: { before: 3, after: 4 }, openEnd: false });
    const start = await buildPack({ store, view: writer, verifiers: [signer.verifier], origin: ORIGIN }, at('2026-01-01T00:00:00Z'), at('2026-03-02T00:00:00Z'));
    expect(verifyPack(start, keys)).toMatchObject({ firstSeq: 1, lastSeq: 3, boundaries: { before: null, after: 4 } });
    const end = await buildPack({ store, view: writer, verifiers: [signer.verifier], origin: ORIGIN }, at('2026-03-03T00:00:00Z'), at('2027-01-01T00:00:00Z'));
    expect(verifyPack(end, keys)).toMatchObject({ firstSeq: 9, lastSeq: 10, boundaries: { before: 8, after: null }, openEnd: true });
  });

  it('refuses a format 1 pack, which cannot prove its edges', async () => {
    const files = unzipSync(await day2());
    const manifest = JSON.parse(strFromU8(files['manifest.json']!)) as Record<string, unknown>;
    delete manifest.boundaries;
    files['manifest.json'] = strToU8(JSON.stringify({ ...manifest, format: 'ctp-compliance-pack/1' }));
    expect(code(zipSync(files))).toBe('incomplete_range');
  });
});
