import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { canonicalEntry, chainHash, entryLeaf, findChainBreak } from '@ctp/ledger-core';
import { PG_URL } from '@ctp/testing';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded';
import { APPEND_LOCK, LedgerStore } from './store';

const schema = () => `ledger_test_${randomBytes(4).toString('hex')}`;

let embedded: EmbeddedPostgres;
beforeAll(async () => {
  embedded = await startEmbeddedPostgres();
});
afterAll(() => embedded.close());

describe.each([
  ['PostgreSQL', async () => LedgerStore.open(PG_URL, { schema: schema() })],
  ['PGlite (embedded)', async () => LedgerStore.open(embedded.url, { schema: schema(), max: 1 })],
])('ledger store on %s', (_name, open) => {
  let store: LedgerStore;
  beforeAll(async () => {
    store = await open();
  });
  afterAll(() => store.close());

  const events = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => ({ eventId: `ev-${from + i}`, type: 'consent.issued', data: { jti: `jti-${from + i}`, purpose: 'p' } }));

  it('appends gap-free, chained entries and skips events already recorded', async () => {
    const first = await store.append(events(0, 5));
    expect(first.map((e) => e.entry.seq)).toEqual([1, 2, 3, 4, 5]);
    const second = await store.append([...events(3, 4), ...events(7, 1), ...events(7, 1)]);
    expect(second.map((e) => [e.entry.seq, e.entry.event_id])).toEqual([
      [6, 'ev-5'],
      [7, 'ev-6'],
      [8, 'ev-7'],
    ]);
    expect(await store.size()).toBe(8);
    expect(findChainBreak(await store.entries(1, 8))).toBeNull();
    expect((await store.entriesByJti('jti-6')).map((e) => e.entry.seq)).toEqual([7]);
    expect((await store.entry(3))?.entry.data).toEqual({ jti: 'jti-2', purpose: 'p' });
  });

  it('refuses UPDATE, DELETE and TRUNCATE, and inserts that break the chain or leave a gap', async () => {
    await store.append(events(100, 2));
    await expect(store.sql`UPDATE ledger_entries SET type = 'x' WHERE seq = 1`).rejects.toThrow(/append-only: UPDATE/);
    await expect(store.sql`DELETE FROM ledger_entries WHERE seq = 1`).rejects.toThrow(/append-only: DELETE/);
    await expect(store.sql`TRUNCATE ledger_entries`).rejects.toThrow(/append-only: TRUNCATE/);
    const size = await store.size();
    const canonical = Buffer.from('{}');
    await expect(
      store.sql`INSERT INTO ledger_entries (seq, event_id, type, recorded_at, canonical, entry_hash, leaf_hash)
        VALUES (${size + 1}, 'forged', 'x', now(), ${canonical}, ${Buffer.alloc(32)}, ${Buffer.alloc(32)})`,
    ).rejects.toThrow(/does not chain/);
    await expect(
      store.sql`INSERT INTO ledger_entries (seq, event_id, type, recorded_at, canonical, entry_hash, leaf_hash)
        VALUES (${size + 5}, 'gap', 'x', now(), ${canonical}, ${Buffer.alloc(32)}, ${Buffer.alloc(32)})`,
    ).rejects.toThrow(/gap/);
  });

  it('checks every row of a multi-row insert: a forged row, an inner gap or a bad start anywhere in the batch is refused', async () => {
    await store.append(events(200, 1));
    const size = await store.size();
    const [head] = await store.sql<{ entry_hash: Buffer }[]>`SELECT entry_hash FROM ledger_entries WHERE seq = ${size}`;
    const chained = (from: number, prev: Buffer, n: number) => {
      const rows: { seq: number; event_id: string; type: string; recorded_at: Date; canonical: Buffer; entry_hash: Buffer; leaf_hash: Buffer }[] = [];
      for (let i = 0; i < n; i++) {
        const canonical = Buffer.from(`{"n":${from + i}}`);
        const entryHash = chainHash(prev, canonical);
        rows.push({ seq: from + i, event_id: `batch-${from + i}-${randomBytes(3).toString('hex')}`, type: 'x', recorded_at: new Date(), canonical, entry_hash: entryHash, leaf_hash: Buffer.alloc(32) });
        prev = entryHash;
      }
      return rows;
    };
    const insert = (rows: ReturnType<typeof chained>) =>
      store.sql`INSERT INTO ledger_entries ${store.sql(rows as never, 'seq', 'event_id', 'type', 'recorded_at', 'canonical', 'entry_hash', 'leaf_hash')}`;
    // A row in the middle whose bytes changed after it was hashed.
    const forged = chained(size + 1, head!.entry_hash, 5);
    forged[2] = { ...forged[2]!, canonical: Buffer.from('{"n":"forged"}') };
    await expect(insert(forged)).rejects.toThrow(new RegExp(`ledger entry ${size + 3} does not chain`));
    // A well-chained batch that skips a seq inside it.
    const skipping = chained(size + 1, head!.entry_hash, 4).map((r, i) => (i >= 2 ? { ...r, seq: r.seq + 1 } : r));
    await expect(insert(skipping)).rejects.toThrow(new RegExp(`ledger seq ${size + 3} would leave a gap`));
    // A batch chained to the genesis hash instead of the current head.
    await expect(insert(chained(size + 1, Buffer.alloc(32), 3))).rejects.toThrow(new RegExp(`ledger entry ${size + 1} does not chain`));
    // A batch that starts after a gap.
    await expect(insert(chained(size + 2, head!.entry_hash, 3))).rejects.toThrow(new RegExp(`ledger seq ${size + 2} would leave a gap`));
    // Nothing of the refused statements stayed; the right batch goes in.
    expect(await store.size()).toBe(size);
    await insert(chained(size + 1, head!.entry_hash, 3));
    expect(await store.size()).toBe(size + 3);
  });

  it('chains a batch prepared ahead of time, and redoes it when the guess was wrong', async () => {
    const size = await store.size();
    // Two batches prepared back to back, the second chained to the first's guessed end.
    const a = store.prepare(events(300, 3));
    const b = store.prepare(events(303, 3));
    expect((await store.commit(a)).map((e) => e.entry.seq)).toEqual([size + 1, size + 2, size + 3]);
    expect((await store.commit(b)).map((e) => e.entry.seq)).toEqual([size + 4, size + 5, size + 6]);
    // The first of two prepared batches fails (a NOT NULL violation): the second is rechained.
    const broken = store.prepare([{ eventId: 'ev-broken', type: null as unknown as string, data: {} }]);
    const after = store.prepare(events(306, 2));
    await expect(store.commit(broken)).rejects.toThrow(/null value/);
    expect((await store.commit(after)).map((e) => e.entry.seq)).toEqual([size + 7, size + 8]);
    // Something else appended in between, and one event of the guessed batch is already there.
    const guessed = store.prepare([...events(310, 2), ...events(306, 1)]);
    await store.append(events(320, 1));
    expect((await store.commit(guessed)).map((e) => [e.entry.seq, e.entry.event_id])).toEqual([
      [size + 10, 'ev-310'],
      [size + 11, 'ev-311'],
    ]);
    expect(findChainBreak(await store.entries(size + 1, size + 11), await store.hashBefore(size + 1), size + 1)).toBeNull();
  });

  it('rebuilds a prepared batch under the lock when the head moved or one of its events is recorded', async () => {
    const size = await store.size();
    // Chained to the right head, but one of its events was recorded meanwhile.
    await store.append(events(401, 1));
    const recordedMeanwhile = store.prepare([...events(400, 1), ...events(401, 1)]);
    expect((await store.commit(recordedMeanwhile)).map((e) => [e.entry.seq, e.entry.event_id])).toEqual([[size + 2, 'ev-400']]);
    // None of its events recorded, but the head moved on after it was chained.
    const headMoved = store.prepare(events(410, 2));
    await store.append(events(420, 1));
    expect((await store.commit(headMoved)).map((e) => [e.entry.seq, e.entry.event_id])).toEqual([
      [size + 4, 'ev-410'],
      [size + 5, 'ev-411'],
    ]);
    // Every event already recorded: nothing appended.
    expect(await store.commit(store.prepare(events(410, 2)))).toEqual([]);
    expect(await store.size()).toBe(size + 5);
    expect(findChainBreak(await store.entries(size + 1, size + 5), await store.hashBefore(size + 1), size + 1)).toBeNull();
  });

  it('gives the service role INSERT and SELECT only', async () => {
    await store.sql.begin(async (tx) => {
      await tx`SET LOCAL ROLE ctp_ledger_writer`;
      await tx`SELECT count(*) FROM ledger_entries`;
    });
    await expect(
      store.sql.begin(async (tx) => {
        await tx`SET LOCAL ROLE ctp_ledger_writer`;
        await tx`ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only`;
      }),
    ).rejects.toThrow(/must be owner|permission denied/);
  });

  it('runs migrations once', async () => {
    const versions = await store.sql`SELECT version FROM ledger_schema_migrations`;
    const files = readdirSync(join(__dirname, '..', 'migrations')).filter((f) => /^\d{4}_.+\.sql$/.test(f));
    expect(versions.map((v) => Number(v.version)).sort((a, b) => a - b)).toEqual(files.map((f) => Number(f.slice(0, 4))).sort((a, b) => a - b));
  });
});

it('names PostgreSQL when it cannot connect', async () => {
  await expect(LedgerStore.open('postgres://postgres@127.0.0.1:1/none')).rejects.toThrow(/PostgreSQL at postgres:\/\/127.0.0.1:1\/none is not usable/);
  expect(postgres).toBeDefined();
});

it('falls back to the locked append when another append overtakes its one-statement guess (PostgreSQL)', async () => {
  const name = schema();
  const store = await LedgerStore.open(PG_URL, { schema: name });
  const other = postgres(PG_URL, { max: 1, onnotice: () => undefined, connection: { search_path: name } });
  const events = (tag: string, n: number) => Array.from({ length: n }, (_, i) => ({ eventId: `ev-${tag}-${i}`, type: 'consent.issued', data: { jti: `jti-${tag}-${i}` } }));
  try {
    await store.append(events('a', 2));
    const guess = store.prepare(events('b', 2)); // chained to entry 2, as the store expects
    // Another appender holds the append lock and has inserted entry 3, not yet committed: the
    // guess's statement does not see it, passes its guard, and waits in the chain trigger.
    let inserted!: () => void;
    let release!: () => void;
    const insertedNow = new Promise<void>((r) => (inserted = r));
    const released = new Promise<void>((r) => (release = r));
    const overtaking = other.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${APPEND_LOCK})`;
      const [head] = await tx<{ seq: string; entry_hash: Buffer }[]>`SELECT seq, entry_hash FROM ledger_entries ORDER BY seq DESC LIMIT 1`;
      const entry = { seq: Number(head!.seq) + 1, type: 'consent.issued', recorded_at: new Date().toISOString(), event_id: 'ev-overtaking', data: { jti: 'jti-o' } };
      const canonical = canonicalEntry(entry);
      await tx`INSERT INTO ledger_entries (seq, event_id, type, jti, recorded_at, canonical, entry_hash, leaf_hash)
        VALUES (${entry.seq}, ${entry.event_id}, ${entry.type}, 'jti-o', ${entry.recorded_at}, ${canonical}, ${chainHash(head!.entry_hash, canonical)}, ${entryLeaf(canonical)})`;
      inserted();
      await released;
    });
    await insertedNow;
    const committing = store.commit(guess);
    for (let waited = 0; ; waited += 20) {
      const [row] = await store.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`;
      if (row!.n > 0) break;
      if (waited > 10_000) throw new Error('the guessed append never waited for the lock');
      await new Promise((r) => setTimeout(r, 20));
    }
    release();
    await overtaking;
    // The trigger refused seq 3 (taken); the locked transaction rebuilt the batch after it.
    expect((await committing).map((e) => [e.entry.seq, e.entry.event_id])).toEqual([
      [4, 'ev-b-0'],
      [5, 'ev-b-1'],
    ]);
    expect(findChainBreak(await store.entries(1, 5))).toBeNull();
  } finally {
    await other.end();
    await store.sql.unsafe(`DROP SCHEMA ${name} CASCADE`);
    await store.close();
  }
});

it('appends without reading the whole ledger: one index probe per event, however many entries there are (PostgreSQL)', async () => {
  const name = schema();
  // One connection, so the append's statistics are this backend's, flushed on demand.
  const store = await LedgerStore.open(PG_URL, { schema: name, max: 1 });
  const eventIdIndexReads = async () => {
    await store.sql`SELECT pg_stat_force_next_flush()`;
    await store.sql`SELECT 1`; // the flush happens when a transaction ends
    await store.sql`SELECT pg_stat_clear_snapshot()`;
    const [row] = await store.sql<{ n: string }[]>`SELECT coalesce(sum(idx_tup_read), 0) AS n FROM pg_stat_user_indexes WHERE schemaname = ${name} AND indexrelname LIKE '%event_id%'`;
    return Number(row!.n);
  };
  try {
    // Batches of 500 first: more than five, so PL/pgSQL has settled on a cached plan for the chain trigger.
    for (let b = 0; b < 8; b++) await store.append(Array.from({ length: 500 }, (_, i) => ({ eventId: `ev-${b}-${i}`, type: 'consent.issued', data: { jti: `jti-${b}-${i}` } })));
    const before = await eventIdIndexReads();
    await store.append([{ eventId: 'ev-one', type: 'consent.issued', data: { jti: 'jti-one' } }]);
    // 0004's duplicate check read every entry's event_id here (4,000+ index tuples).
    expect((await eventIdIndexReads()) - before).toBeLessThan(20);
    expect(await store.size()).toBe(4001);
  } finally {
    await store.sql.unsafe(`DROP SCHEMA ${name} CASCADE`);
    await store.close();
  }
});
