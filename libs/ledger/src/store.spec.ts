import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { findChainBreak } from '@ctp/ledger-core';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded';
import { LedgerStore } from './store';

export const PG_URL = process.env.CTP_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
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
    expect(versions.map((v) => v.version).sort()).toEqual([1, 2]);
  });
});

it('names PostgreSQL when it cannot connect', async () => {
  await expect(LedgerStore.open('postgres://postgres@127.0.0.1:1/none')).rejects.toThrow(/PostgreSQL at postgres:\/\/127.0.0.1:1\/none is not usable/);
  expect(postgres).toBeDefined();
});
