import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { MemoryBus } from '@ctp/bus';
import { canonicalEntry, chainHash, entryLeaf, findChainBreak, GENESIS_HASH, NoteSigner, verifyInclusion, verifyPack, type SegmentManifest } from '@ctp/ledger-core';
import { baseUrl, close, createLogger, createServiceApp, listen } from '@ctp/http';
import { registry } from '@ctp/telemetry/internal';
import { OpenApiContract, PG_URL } from '@ctp/testing';
import { ledgerRouter } from '../router';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../embedded';
import { buildPack } from '../pack_export';
import { LedgerStore } from '../store';
import { LedgerWriter } from '../writer';
import { ensurePartitions, hotPartitions, monthStart, partitionName } from './partitions';
import { TierMaintenance } from './schedule';
import { runRetention, type RetentionOptions, type RetentionReport, type RetentionStep } from './retention';

const ORIGIN = 'ctp.test/tiers';
const signer = new NoteSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);
const schema = () => `ledger_tiers_${randomBytes(4).toString('hex')}`;
const at = (iso: string) => new Date(iso);

let embedded: EmbeddedPostgres;
const dirs: string[] = [];
beforeAll(async () => {
  embedded = await startEmbeddedPostgres();
});
afterAll(async () => {
  await embedded.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDirs() {
  const root = mkdtempSync(join(tmpdir(), 'ctp-tiers-'));
  dirs.push(root);
  return { warmDir: join(root, 'warm'), coldDir: join(root, 'cold') };
}

/** A writer as after a restart: its Merkle tree rebuilt from every tier, then a checkpoint signed. */
async function restartWriter(store: LedgerStore): Promise<LedgerWriter> {
  const writer = new LedgerWriter({ store, bus: new MemoryBus(), signers: [signer], origin: ORIGIN });
  await writer.load();
  await writer.checkpoint();
  return writer;
}

let counter = 0;
async function appendAt(store: LedgerStore, when: string, n: number) {
  await ensurePartitions(store.sql, at(when), 0);
  const events = Array.from({ length: n }, () => {
    const i = counter++;
    return { eventId: `ev-${i}`, type: 'consent.issued', data: { jti: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, purpose: 'p' } };
  });
  return store.append(events, at(when));
}

function job(store: LedgerStore, d: { warmDir: string; coldDir: string }, now: string, extra: Partial<RetentionOptions> = {}): Promise<RetentionReport> {
  return runRetention({ store, origin: ORIGIN, verifiers: [signer.verifier], hotDays: 90, warmDays: 365, coldDays: 2555, ...d, now: at(now), ...extra });
}

const contract = new OpenApiContract();

/** GETs from the ledger API of `writer`, checking each response against the OpenAPI description. */
async function httpGet(store: LedgerStore, writer: LedgerWriter, requests: { path: string; template: string }[]): Promise<{ status: number; body: Record<string, unknown> }[]> {
  const app = createServiceApp({ logger: createLogger('tiers-test'), readiness: {}, routers: [ledgerRouter({ store, view: writer, verifiers: [signer.verifier], origin: ORIGIN })] });
  const server = await listen(app, 0, '127.0.0.1');
  try {
    const out = [];
    for (const { path, template } of requests) {
      const res = await fetch(`${baseUrl(server)}${path}`);
      const body = (await res.json()) as Record<string, unknown>;
      contract.validate('GET', template, res.status, res.headers.get('content-type') ?? '', body);
      out.push({ status: res.status, body });
    }
    return out;
  } finally {
    await close(server);
  }
}

async function everyEntryOnce(store: LedgerStore) {
  const size = await store.size();
  const first = await store.firstRetainedSeq();
  const entries = await store.entries(first, size);
  expect(entries.map((e) => e.entry.seq)).toEqual(Array.from({ length: size - first + 1 }, (_, i) => first + i));
  expect(findChainBreak(entries, await store.hashBefore(first), first)).toBeNull();
}

describe.each([
  ['PostgreSQL', () => LedgerStore.open(PG_URL, { schema: schema() })],
  ['PGlite (embedded)', () => LedgerStore.open(embedded.url, { schema: schema(), max: 1 })],
])('storage tiers on %s', (_name, open) => {
  let store: LedgerStore;
  const d = tempDirs();
  beforeAll(async () => {
    store = await open();
  });
  afterAll(() => store.close());

  it('moves hot -> warm -> cold -> expired without changing a hash or breaking a proof', async () => {
    await appendAt(store, '2025-01-10T10:00:00Z', 5); // seq 1-5
    await appendAt(store, '2025-02-10T10:00:00Z', 4); // 6-9
    await appendAt(store, '2025-05-10T10:00:00Z', 3); // 10-12
    let writer = await restartWriter(store);
    const checkpoint = writer.checkpointed!;
    expect(checkpoint.size).toBe(12);
    const before = await store.entries(1, 12);
    const proof = writer.tree.inclusionProof(2, 12); // seq 3
    const packBefore = await buildPack({ store, view: writer, verifiers: [signer.verifier], origin: ORIGIN }, at('2025-01-01T00:00:00Z'), at('2025-06-01T00:00:00Z'));

    // Hot -> warm: January and February are older than 90 days; May holds the head.
    const first = await job(store, d, '2025-06-15T00:00:00Z');
    expect(first.sealed).toEqual(['ledger_entries_p202501', 'ledger_entries_p202502']);
    expect(first.tiers).toEqual({ hot: 3, warm: 9, cold: 0, expired: 0 });
    const hot = (await hotPartitions(store.sql)).map((p) => p.name);
    expect(hot).not.toContain('ledger_entries_p202501');
    expect(hot).toContain('ledger_entries_p202505');
    expect(Number((await store.sql`SELECT count(*) AS n FROM ledger_entries`)[0]!.n)).toBe(3);
    expect(readdirSync(d.warmDir).sort()).toEqual([
      'ledger_entries_p202501.0000.jsonl.gz',
      'ledger_entries_p202501.0000.manifest.json',
      'ledger_entries_p202502.0000.jsonl.gz',
      'ledger_entries_p202502.0000.manifest.json',
    ]);

    // The same bytes and hashes, read from the segment; the chain verifies across the hot/warm boundary.
    expect(await store.entries(1, 12)).toEqual(before);
    expect(await store.entry(3)).toEqual(before[2]);
    await everyEntryOnce(store);
    // A proof obtained before the move still verifies, and a restarted writer serves the same one.
    writer = await restartWriter(store);
    expect(writer.tree.root(12).equals(checkpoint.root)).toBe(true);
    expect(verifyInclusion(2, 12, before[2]!.leafHash, proof, checkpoint.root)).toBe(true);
    expect(writer.tree.inclusionProof(2, 12)).toEqual(proof);
    expect(await writer.verifyIntegrity(true)).toBe(true);
    // A pack over moved entries is the same pack, and verifies offline.
    const packAfter = await buildPack({ store, view: writer, verifiers: [signer.verifier], origin: ORIGIN }, at('2025-01-01T00:00:00Z'), at('2025-06-01T00:00:00Z'));
    expect(verifyPack(packAfter, { trustedKeys: [signer.verifier] }).entries).toBe(12);
    expect(verifyPack(packBefore, { trustedKeys: [signer.verifier] }).lastSeq).toBe(verifyPack(packAfter, { trustedKeys: [signer.verifier] }).lastSeq);

    // Twice is a no-op.
    const segments = await store.sql`SELECT * FROM ledger_segments ORDER BY first_seq`;
    const again = await job(store, d, '2025-06-15T00:00:00Z');
    expect([again.sealed, again.movedToCold, again.expired]).toEqual([[], [], []]);
    expect(await store.sql`SELECT * FROM ledger_segments ORDER BY first_seq`).toEqual(segments);

    // Appends continue on the chain.
    await appendAt(store, '2026-03-10T10:00:00Z', 2); // 13-14
    writer = await restartWriter(store);

    // Warm -> cold after a year: recompressed at level 9 in the cold directory, the warm copy removed.
    const second = await job(store, d, '2026-04-01T00:00:00Z');
    expect(second.movedToCold).toEqual(['ledger_entries_p202501.0000', 'ledger_entries_p202502.0000']);
    expect(second.sealed).toEqual(['ledger_entries_p202505']);
    expect(second.tiers).toEqual({ hot: 2, warm: 3, cold: 9, expired: 0 });
    expect(readdirSync(d.warmDir).filter((f) => f.includes('p20250') && !f.includes('p202505'))).toEqual([]);
    const coldManifest = JSON.parse(readFileSync(join(d.coldDir, 'ledger_entries_p202501.0000.manifest.json'), 'utf8')) as SegmentManifest;
    expect([coldManifest.tier, coldManifest.data.level]).toEqual(['cold', 9]);
    expect(await store.entries(1, 12)).toEqual(before);
    await everyEntryOnce(store);
    expect(verifyInclusion(2, 12, before[2]!.leafHash, proof, checkpoint.root)).toBe(true);

    // After seven years retention ends: the data is deleted, the leaf hashes and the manifest stay.
    const third = await job(store, d, '2033-01-01T00:00:00Z');
    expect(third.expired).toEqual(['ledger_entries_p202501.0000', 'ledger_entries_p202502.0000', 'ledger_entries_p202505.0000']);
    expect(third.tiers).toEqual({ hot: 2, warm: 0, cold: 0, expired: 12 });
    expect(existsSync(join(d.coldDir, 'ledger_entries_p202501.0000.jsonl.gz'))).toBe(false);
    expect(existsSync(join(d.coldDir, 'ledger_entries_p202501.0000.leaves'))).toBe(true);
    const expired = await store.sql`SELECT partition_name, expired_at FROM ledger_segments WHERE tier = 'expired' ORDER BY first_seq`;
    expect(expired.map((r) => [r.partition_name, (r.expired_at as Date).toISOString()])[0]).toEqual(['ledger_entries_p202501', '2033-01-01T00:00:00.000Z']);
    expect(await store.entry(3)).toBeNull();
    expect(await store.firstRetainedSeq()).toBe(13);
    // The tree still rebuilds, so proofs of the entries kept (and of the old ones, by leaf hash) still verify.
    writer = await restartWriter(store);
    expect(writer.tree.root(12).equals(checkpoint.root)).toBe(true);
    expect(writer.tree.inclusionProof(2, 12)).toEqual(proof);
    expect(await writer.verifyIntegrity(true)).toBe(true);
    await everyEntryOnce(store);
    expect((await store.entry(14))?.entry.seq).toBe(14);
    await appendAt(store, '2033-01-02T00:00:00Z', 1);
    expect(await store.size()).toBe(15);
    expect(await registry.metrics()).toMatch(/ctp_ledger_tier_entries\{tier="expired"\} 12/);
  });

  it('keeps the database guards: only the owner can drop a partition, nobody can delete rows', async () => {
    const [partition] = await hotPartitions(store.sql);
    const table = store.sql(partition!.name);
    await expect(store.sql`TRUNCATE ${table}`).rejects.toThrow(/append-only: TRUNCATE/);
    await expect(store.sql`TRUNCATE ledger_entries`).rejects.toThrow(/append-only: TRUNCATE/);
    await expect(store.sql`DELETE FROM ${table}`).rejects.toThrow(/append-only: DELETE/);
    for (const statement of [`DROP TABLE ${partition!.name}`, `ALTER TABLE ledger_entries DETACH PARTITION ${partition!.name}`, `DELETE FROM ledger_segments`]) {
      await expect(
        store.sql.begin(async (tx) => {
          await tx`SET LOCAL ROLE ctp_ledger_writer`;
          await tx.unsafe(statement);
        }),
      ).rejects.toThrow(/must be owner|permission denied/);
    }
    // The writer may have the owner create an empty month ahead (migration 0005), which stays the owner's.
    await store.sql.begin(async (tx) => {
      await tx`SET LOCAL ROLE ctp_ledger_writer`;
      await tx`SELECT ledger_ensure_partition(${new Date(Date.UTC(2040, 0, 1))})`;
    });
    await expect(
      store.sql.begin(async (tx) => {
        await tx`SET LOCAL ROLE ctp_ledger_writer`;
        await tx`ALTER TABLE ledger_entries DETACH PARTITION ledger_entries_p204001`;
      }),
    ).rejects.toThrow(/must be owner/);
    // seq and event_id stay unique without a unique index across partitions: the chain trigger enforces them.
    const head = (await store.entry(await store.size()))!;
    await expect(
      store.sql`INSERT INTO ledger_entries (seq, event_id, type, recorded_at, canonical, entry_hash, leaf_hash)
        VALUES (${head.entry.seq}, 'again', 'x', ${new Date(head.entry.recorded_at)}, ${head.canonical}, ${head.entryHash}, ${head.leafHash})`,
    ).rejects.toThrow(/already taken|duplicate key/); // same recorded_at: the (seq, recorded_at) key answers first
    await expect(
      store.sql`INSERT INTO ledger_entries (seq, event_id, type, recorded_at, canonical, entry_hash, leaf_hash)
        VALUES (${head.entry.seq}, 'again', 'x', ${new Date(Date.parse(head.entry.recorded_at) + 1)}, ${head.canonical}, ${head.entryHash}, ${head.leafHash})`,
    ).rejects.toThrow(/already taken/);
    const canonical = Buffer.from(JSON.stringify({ x: 1 }));
    await expect(
      store.sql`INSERT INTO ledger_entries (seq, event_id, type, recorded_at, canonical, entry_hash, leaf_hash)
        VALUES (${head.entry.seq + 1}, ${head.entry.event_id}, 'x', ${new Date(head.entry.recorded_at)}, ${canonical}, ${chainHash(head.entryHash, canonical)}, ${Buffer.alloc(32)})`,
    ).rejects.toThrow(/already recorded/);
  });
});

describe('retention job resumes after a crash at any step', () => {
  let store: LedgerStore;
  const d = tempDirs();
  class Crash extends Error {}
  beforeAll(async () => {
    store = await LedgerStore.open(PG_URL, { schema: schema() });
  });
  afterAll(() => store.close());

  async function crashAtEachStep(now: string, steps: RetentionStep[]): Promise<void> {
    for (const step of steps) {
      let crashed = false;
      const run = job(store, d, now, {
        segmentEntries: 4,
        afterStep: (s) => {
          if (s === step && !crashed) {
            crashed = true;
            throw new Crash(step);
          }
        },
      });
      await expect(run).rejects.toBeInstanceOf(Crash);
      // Whatever the step, every entry is still there exactly once and the chain verifies.
      await everyEntryOnce(store);
    }
    await job(store, d, now, { segmentEntries: 4 });
    const settled = await store.sql`SELECT * FROM ledger_segments ORDER BY first_seq`;
    const noop = await job(store, d, now, { segmentEntries: 4 });
    expect([noop.sealed, noop.movedToCold, noop.expired]).toEqual([[], [], []]);
    expect(await store.sql`SELECT * FROM ledger_segments ORDER BY first_seq`).toEqual(settled);
    await everyEntryOnce(store);
  }

  it('loses and duplicates nothing, and rewrites a segment file that does not verify', async () => {
    await appendAt(store, '2025-01-10T10:00:00Z', 6);
    await appendAt(store, '2025-03-10T10:00:00Z', 6);
    await appendAt(store, '2025-07-10T10:00:00Z', 2);
    const writer = await restartWriter(store);
    const before = await store.entries(1, 14);

    // A crash right after the segment file was written, then the file is damaged: the next run notices and rewrites it.
    // (Months of 6 entries, segments of at most 4: two segments a month.) Crash after the second is written.
    let written = 0;
    await expect(job(store, d, '2025-07-15T00:00:00Z', { segmentEntries: 4, afterStep: (s) => { if (s === 'written' && ++written === 2) throw new Crash(s); } })).rejects.toBeInstanceOf(Crash);
    const data = join(d.warmDir, 'ledger_entries_p202501.0001.jsonl.gz');
    const bytes = readFileSync(data);
    bytes[bytes.length - 12]! ^= 0xff;
    writeFileSync(data, bytes);
    const logs: string[] = [];
    await expect(job(store, d, '2025-07-15T00:00:00Z', { segmentEntries: 4, log: (m) => logs.push(m), afterStep: (s, name) => { if (s === 'verified' && name.endsWith('.0001')) throw new Crash(s); } })).rejects.toBeInstanceOf(Crash);
    expect(logs).toContain('retention: a segment file does not verify; rewriting it');

    await crashAtEachStep('2025-07-15T00:00:00Z', ['planned', 'written', 'verified', 'dropped']);
    expect((await store.sql`SELECT partition_name, part, first_seq, last_seq, tier FROM ledger_segments ORDER BY first_seq`).map((r) => [r.partition_name, r.part, Number(r.first_seq), Number(r.last_seq), r.tier])).toEqual([
      ['ledger_entries_p202501', 0, 1, 4, 'warm'],
      ['ledger_entries_p202501', 1, 5, 6, 'warm'],
      ['ledger_entries_p202503', 0, 7, 10, 'warm'],
      ['ledger_entries_p202503', 1, 11, 12, 'warm'],
    ]);
    await crashAtEachStep('2026-07-01T00:00:00Z', ['cold_written', 'cold_cataloged', 'warm_removed']);
    expect((await store.sql`SELECT tier FROM ledger_segments ORDER BY first_seq`).map((r) => r.tier)).toEqual(['cold', 'cold', 'cold', 'cold']);
    expect(readdirSync(d.warmDir)).toEqual([]);
    expect(await store.entries(1, 14)).toEqual(before);
    await crashAtEachStep('2033-06-01T00:00:00Z', ['leaves_written', 'expired', 'data_removed']);
    expect((await store.sql`SELECT tier FROM ledger_segments ORDER BY first_seq`).map((r) => r.tier)).toEqual(['expired', 'expired', 'expired', 'expired']);
    expect(readdirSync(d.coldDir).filter((f) => f.endsWith('.gz'))).toEqual([]);

    // Proofs against the checkpoint signed before everything moved still hold.
    const rebuilt = await restartWriter(store);
    const [gone, kept, proof] = await httpGet(store, rebuilt, [
      { path: '/ledger/entries/3', template: '/ledger/entries/{seq}' },
      { path: '/ledger/entries/13', template: '/ledger/entries/{seq}' },
      { path: '/ledger/proofs/inclusion?seq=3&size=14', template: '/ledger/proofs/inclusion' },
    ]);
    expect([gone!.status, gone!.body.detail]).toEqual([404, 'retention of ledger entry 3 has ended (its leaf hash is kept)']);
    expect(kept!.status).toBe(200);
    expect(proof!.body.proof).toEqual(writer.tree.inclusionProof(2, 14).map((h) => h.toString('base64')));
    expect(rebuilt.tree.root(14).equals(writer.checkpointed!.root)).toBe(true);
    expect(verifyInclusion(13, 14, before[13]!.leafHash, rebuilt.tree.inclusionProof(13, 14), writer.checkpointed!.root)).toBe(true);
  });

  it('plans a month again when an entry arrived in it after an interrupted run planned it', async () => {
    const other = await LedgerStore.open(PG_URL, { schema: schema() });
    const dd = tempDirs();
    try {
      await appendAt(other, '2025-01-10T10:00:00Z', 3);
      await appendAt(other, '2025-07-10T10:00:00Z', 1);
      await restartWriter(other);
      await expect(job(other, dd, '2025-07-15T00:00:00Z', { afterStep: (s) => { if (s === 'written') throw new Crash(s); } })).rejects.toBeInstanceOf(Crash);
      await appendAt(other, '2025-01-20T10:00:00Z', 1); // seq 5, late, into January: now the head is there
      await restartWriter(other);
      const logs: string[] = [];
      const report = await job(other, dd, '2025-07-15T00:00:00Z', { log: (m) => logs.push(m) });
      expect(logs).toContain('retention: the partition changed since it was planned; planning it again');
      expect(report.skipped).toEqual([{ partition: 'ledger_entries_p202501', reason: 'it holds the newest entry, which stays hot' }]);
      expect(await other.sql`SELECT * FROM ledger_segments`).toHaveLength(0);
      expect(readdirSync(dd.warmDir)).toEqual([]);
      await everyEntryOnce(other);
    } finally {
      await other.close();
    }
  });

  it('reports a damaged warm segment instead of serving it', async () => {
    const other = await LedgerStore.open(PG_URL, { schema: schema() });
    const dd = tempDirs();
    try {
      await appendAt(other, '2025-01-10T10:00:00Z', 3);
      await appendAt(other, '2025-07-10T10:00:00Z', 1);
      await restartWriter(other);
      await job(other, dd, '2025-07-15T00:00:00Z');
      const data = join(dd.warmDir, 'ledger_entries_p202501.0000.jsonl.gz');
      const bytes = readFileSync(data);
      bytes[bytes.length - 12]! ^= 0xff;
      writeFileSync(data, bytes);
      await expect(other.entry(2)).rejects.toThrow(/does not match/);
    } finally {
      await other.close();
    }
  });
});

describe('tier maintenance in a writer process', () => {
  it('runs the retention job on its period when enabled', async () => {
    const store = await LedgerStore.open(PG_URL, { schema: schema() });
    const d = tempDirs();
    const old = monthStart(new Date(), -6);
    const maintenance = new TierMaintenance({
      store,
      origin: ORIGIN,
      verifiers: [signer.verifier],
      policy: { hotDays: 90, warmDays: 365, coldDays: 2555, ...d },
      retentionIntervalMs: 50,
      partitionIntervalMs: 50,
      log: () => undefined,
      onError: (error) => {
        throw error;
      },
    });
    try {
      await appendAt(store, new Date(old.getTime() + 86_400_000).toISOString(), 2);
      await appendAt(store, new Date().toISOString(), 1);
      await restartWriter(store);
      maintenance.start();
      const deadline = Date.now() + 15_000;
      let tiers: string[] = [];
      while (Date.now() < deadline) {
        tiers = (await store.sql`SELECT tier FROM ledger_segments`).map((r) => r.tier as string);
        if (tiers.includes('warm')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(tiers).toEqual(['warm']);
      // Served over HTTP from the warm segment, with its proof.
      const writer = await restartWriter(store);
      const [entry, proof] = await httpGet(store, writer, [
        { path: '/ledger/entries/1', template: '/ledger/entries/{seq}' },
        { path: '/ledger/proofs/inclusion?seq=1', template: '/ledger/proofs/inclusion' },
      ]);
      expect(entry!.status).toBe(200);
      const leaf = Buffer.from((entry!.body as { leaf_hash: string }).leaf_hash, 'base64');
      const p = proof!.body as { tree_size: number; proof: string[]; root: string };
      expect(verifyInclusion(0, p.tree_size, leaf, p.proof.map((h) => Buffer.from(h, 'base64')), writer.checkpointed!.root)).toBe(true);
      expect((await hotPartitions(store.sql)).map((p) => p.name)).not.toContain(partitionName(old));
    } finally {
      await maintenance.stop();
      await store.close();
    }
  });
});

describe('migration 0002 on a ledger that already has entries', () => {
  it('moves them into month partitions unchanged, and appending continues the chain', async () => {
    const name = schema();
    const sql = postgres(PG_URL, { max: 1, onnotice: () => undefined, connection: { search_path: name } });
    try {
      await sql.unsafe(`CREATE SCHEMA ${name}`);
      await sql`CREATE TABLE ledger_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
      await sql.unsafe(readFileSync(join(__dirname, '../../migrations/0001_ledger.sql'), 'utf8'));
      await sql`INSERT INTO ledger_schema_migrations (version, name) VALUES (1, '0001_ledger.sql')`;
      let prev = GENESIS_HASH;
      for (const [i, when] of ['2024-12-31T23:59:59Z', '2025-01-01T00:00:00Z', '2025-03-05T12:00:00Z'].entries()) {
        const entry = { seq: i + 1, type: 'consent.issued', recorded_at: new Date(when).toISOString(), event_id: `pre-${i}`, data: { purpose: 'p' } };
        const canonical = canonicalEntry(entry);
        prev = chainHash(prev, canonical);
        await sql`INSERT INTO ledger_entries (seq, event_id, type, recorded_at, canonical, entry_hash, leaf_hash)
          VALUES (${entry.seq}, ${entry.event_id}, ${entry.type}, ${new Date(when)}, ${canonical}, ${prev}, ${entryLeaf(canonical)})`;
      }
    } finally {
      await sql.end({ timeout: 2 });
    }
    const store = await LedgerStore.open(PG_URL, { schema: name });
    try {
      const partitions = (await store.sql`SELECT tableoid::regclass::text AS p, seq FROM ledger_entries ORDER BY seq`).map((r) => [r.p, Number(r.seq)]);
      expect(partitions).toEqual([
        ['ledger_entries_p202412', 1],
        ['ledger_entries_p202501', 2],
        ['ledger_entries_p202503', 3],
      ]);
      expect(findChainBreak(await store.entries(1, 3))).toBeNull();
      const [appended] = await store.append([{ eventId: 'post-1', type: 'consent.revoked', data: {} }]);
      expect(appended!.entry.seq).toBe(4);
      expect(await store.append([{ eventId: 'pre-2', type: 'consent.issued', data: {} }])).toEqual([]);
      expect(findChainBreak(await store.entries(1, 4))).toBeNull();
    } finally {
      await store.close();
    }
  });
});
