import { generateKeyPairSync, randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { MemoryBus } from '@ctp/bus';
import { NoteSigner } from '@ctp/ledger-core';
import { ledgerRoles, PG_URL, type LedgerRoles } from '@ctp/testing';
import { assertWriterRole, writerRoleProblems } from './roles';
import { openLedgerStores, startLedger } from './service';
import { LedgerStore } from './store';
import { partitionName } from './tiers/partitions';

const signer = new NoteSigner('ctp.test/roles', generateKeyPairSync('ed25519').privateKey);
const settings = {
  origin: 'ctp.test/roles',
  batchSize: 16,
  batchWaitMs: 20,
  checkpointIntervalMs: 60_000,
  retentionIntervalMs: 0,
  anchoring: { intervalMs: 60_000 },
  tiers: { hotDays: 90, warmDays: 365, coldDays: 2555, warmDir: '/nonexistent/warm', coldDir: '/nonexistent/cold' },
};
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The writer appends as a role that is not the table owner, which cannot use any of
 * the owner's ways around the append-only guards (issue 10, item 7).
 */
describe('ledger database roles', () => {
  const schema = `ledger_roles_${randomBytes(4).toString('hex')}`;
  let roles: LedgerRoles;
  let writer: LedgerStore;
  let owner: LedgerStore;
  const partition = partitionName(new Date());

  beforeAll(async () => {
    roles = await ledgerRoles(PG_URL, schema);
    const stores = await openLedgerStores(roles.writerUrl, { schema, ownerUrl: roles.ownerUrl, devMode: false, keepOwner: true, max: 2 });
    writer = stores.store;
    owner = stores.ownerStore!;
  });
  afterAll(async () => {
    await writer?.close();
    await owner?.close();
    await roles?.drop();
  });

  it('migrates as the owner and appends as the writer, which has nothing more than INSERT and SELECT', async () => {
    expect(await writerRoleProblems(writer.sql)).toEqual([]);
    await assertWriterRole(writer.sql, { devMode: false });
    const appended = await writer.append([{ eventId: 'r-1', type: 'consent.issued', data: { jti: 'j-1' } }]);
    expect(appended.map((e) => e.entry.seq)).toEqual([1]);
    // Partitions ahead come from the owner's function, which the writer may call.
    await writer.sql`SELECT ledger_ensure_partition(${new Date(Date.UTC(2031, 0, 15))})`;
    const [owned] = await owner.sql`SELECT tableowner FROM pg_tables WHERE schemaname = ${schema} AND tablename = 'ledger_entries_p203101'`;
    expect(owned!.tableowner).toBe(roles.owner);
  });

  it.each<[string, (sql: postgres.Sql) => Promise<unknown>]>([
    ['switch the triggers off with session_replication_role', (sql) => sql`SET session_replication_role = replica`],
    ['disable the append-only trigger', (sql) => sql`ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only`],
    ['disable the chain trigger', (sql) => sql`ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_chain`],
    ['detach a partition', (sql) => sql.unsafe(`ALTER TABLE ledger_entries DETACH PARTITION ${partition}`)],
    ['drop a partition', (sql) => sql.unsafe(`DROP TABLE ${partition}`)],
    [
      'insert into a partition directly, past the chain check',
      (sql) => sql.unsafe(`INSERT INTO ${partition} (seq, event_id, type, recorded_at, canonical, entry_hash, leaf_hash) VALUES (99, 'forged', 'consent.issued', now(), '\\x00', decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'))`),
    ],
    ['update an entry', (sql) => sql`UPDATE ledger_entries SET type = 'x'`],
    ['delete an entry', (sql) => sql`DELETE FROM ledger_entries`],
    ['truncate the ledger', (sql) => sql`TRUNCATE ledger_checkpoints`],
    ['rewrite the segment catalog', (sql) => sql`DELETE FROM ledger_segments`],
  ])('refuses the writer to %s', async (_name, trick) => {
    await expect(writer.sql.begin((tx) => trick(tx as unknown as postgres.Sql))).rejects.toThrow(/must be owner|permission denied|superuser/);
  });

  it('the owner could (in a transaction rolled back): that is why the writer is not the owner', async () => {
    class Rollback extends Error {}
    for (const trick of [
      (tx: postgres.TransactionSql) => tx`ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only`,
      (tx: postgres.TransactionSql) => tx.unsafe(`ALTER TABLE ledger_entries DETACH PARTITION ${partition}`),
      (tx: postgres.TransactionSql) =>
        tx.unsafe(`INSERT INTO ${partition} (seq, event_id, type, recorded_at, canonical, entry_hash, leaf_hash) VALUES (99, 'forged', 'consent.issued', now(), '\\x00', decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'))`),
    ]) {
      await expect(
        owner.sql.begin(async (tx) => {
          await trick(tx);
          throw new Rollback();
        }),
      ).rejects.toBeInstanceOf(Rollback);
    }
  });

  it('refuses to start a writer as the owner or a superuser outside dev mode, and allows it in dev mode', async () => {
    expect(await writerRoleProblems(owner.sql)).toEqual(expect.arrayContaining([`${roles.owner} owns the schema`, `${roles.owner} owns ledger_entries`]));
    const superuser = await LedgerStore.open(PG_URL, { schema, migrate: false, max: 1 });
    try {
      expect((await writerRoleProblems(superuser.sql))[0]).toMatch(/is \(or can become\) a superuser/);
      const start = (store: LedgerStore, devMode: boolean) => startLedger(settings, { store, devMode, bus: new MemoryBus(), signers: [signer], logger: quiet });
      await expect(start(owner, false)).rejects.toThrow(/refusing to write the ledger as this database role: .* owns the schema/);
      await expect(start(superuser, false)).rejects.toThrow(/refusing to write the ledger as this database role: .* superuser/);
      const bus = new MemoryBus();
      await bus.ensureStreams([{ name: 'CTP_LEDGER', subjects: ['ctp.ledger.>'], maxAgeMs: 60_000 }, { name: 'CTP_REVOCATIONS', subjects: ['ctp.revocations.*'], maxAgeMs: 60_000 }]);
      const running = await startLedger(settings, { store: superuser, devMode: true, bus, signers: [signer], logger: quiet });
      await running.stop();
      // The retention job drops partitions: it needs the owner's connection outside dev mode.
      await expect(startLedger({ ...settings, retentionIntervalMs: 1000 }, { store: writer, devMode: false, bus, signers: [signer], logger: quiet })).rejects.toThrow(/CTP_DATABASE_OWNER_URL/);
    } finally {
      await superuser.close();
    }
  });

  it('a writer that may not migrate refuses a schema older than its code', async () => {
    const old = `ledger_roles_old_${randomBytes(3).toString('hex')}`;
    const sql = postgres(PG_URL, { max: 1, onnotice: () => undefined, connection: { search_path: old } });
    try {
      await sql.unsafe(`CREATE SCHEMA ${old}`);
      await sql`CREATE TABLE ledger_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
      await sql`INSERT INTO ledger_schema_migrations (version, name) VALUES (1, '0001_ledger.sql')`;
      await expect(LedgerStore.open(PG_URL, { schema: old, migrate: false })).rejects.toThrow(/the ledger schema is at migration 1, this code needs \d+: run the migrations as the table owner/);
    } finally {
      await sql.unsafe(`DROP SCHEMA ${old} CASCADE`);
      await sql.end({ timeout: 2 });
    }
  });
});
