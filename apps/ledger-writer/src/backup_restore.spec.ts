import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsBus } from '@ctp/bus';
import { NoteVerifier, openNote, parseCheckpoint, verifyConsistency, verifyInclusion } from '@ctp/ledger-core';
import { LEDGER_STREAM_SPEC, ledgerSubject, LedgerStore } from '@ctp/ledger';
import { REVOCATION_STREAM_SPEC, revocationSubject } from '@ctp/revocation';
import { PG_BIN, privateNats, privatePostgres, REPO_ROOT, startService, startTestTsa, tsEntry, waitFor, type PrivateServer, type ServiceProcess, type TestTsa } from '@ctp/testing';

/**
 * Disaster recovery as docs/operations.md ("Back up and restore the ledger") describes it, run for
 * real: a populated ledger (real writer, real PostgreSQL, RFC 3161 anchors from a real openssl TSA)
 * is backed up with pg_dump, the server is destroyed, a fresh PostgreSQL gets the roles and the dump,
 * and the same writer configuration starts on it. Every entry, checkpoint and anchor must be intact
 * (tables, proof API, `ctp verify` of an exported pack), events committed after the dump are replayed
 * from JetStream with a new durable consumer, and the writer continues the same chain.
 */
const SCHEMA = 'ledger_dr';
const ORIGIN = 'ctp.test/disaster-recovery';

function pg(bin: string, args: string[]): string {
  return execFileSync(join(PG_BIN, bin), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
}
function ctp(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['apps/ctp/bin/ctp.js', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}
const hostPort = (server: PrivateServer) => ['-h', '127.0.0.1', '-p', String(server.port), '-U', 'postgres'];

interface Snapshot {
  entries: { seq: number; event_id: string; entry_hash: string }[];
  checkpoints: { size: number; root: string; note: string }[];
  anchors: { checkpoint_size: number; token: string }[];
}
async function snapshot(url: string): Promise<Snapshot> {
  const store = await LedgerStore.open(url, { schema: SCHEMA, max: 1 });
  try {
    const { sql } = store;
    return {
      entries: (await sql`SELECT seq::int AS seq, event_id, encode(entry_hash, 'hex') AS entry_hash FROM ledger_entries ORDER BY seq`) as unknown as Snapshot['entries'],
      checkpoints: (await sql`SELECT size::int AS size, encode(root, 'hex') AS root, note FROM ledger_checkpoints ORDER BY size`) as unknown as Snapshot['checkpoints'],
      anchors: (await sql`SELECT checkpoint_size::int AS checkpoint_size, encode(token, 'hex') AS token FROM ledger_anchors ORDER BY checkpoint_size`) as unknown as Snapshot['anchors'],
    };
  } finally {
    await store.close();
  }
}

describe('ledger backup, restore into a fresh PostgreSQL, and replay from the bus', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctp-dr-'));
  let original: PrivateServer | undefined;
  let fresh: PrivateServer | undefined;
  let nats: PrivateServer;
  let tsa: TestTsa;
  let bus: NatsBus;
  let writer: ServiceProcess | undefined;

  beforeAll(async () => {
    [original, fresh, nats, tsa] = await Promise.all([privatePostgres(), privatePostgres(), privateNats(), startTestTsa()]);
    writeFileSync(join(dir, 'tsa-roots.pem'), tsa.ca.rootPem);
    bus = await NatsBus.connect({ servers: nats.url, name: 'dr-producer' });
    await bus.ensureStreams([LEDGER_STREAM_SPEC, REVOCATION_STREAM_SPEC]);
  }, 120_000);
  afterAll(async () => {
    await writer?.stop().catch(() => undefined);
    await bus?.close().catch(() => undefined);
    await Promise.all([original?.destroy(), fresh?.destroy(), nats?.destroy(), tsa?.close()]);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const startWriter = (server: PrivateServer, extra: Record<string, string> = {}) =>
    startService(
      tsEntry('apps/ledger-writer/src/main.ts'),
      {
        CTP_NATS_URL: nats.url,
        CTP_DATABASE_URL: server.url,
        CTP_DATABASE_SCHEMA: SCHEMA,
        CTP_LEDGER_ORIGIN: ORIGIN,
        CTP_LEDGER_DURABLE: 'ledger-writer',
        CTP_LEDGER_KEY_DIR: join(dir, 'checkpoint-keys'),
        CTP_LEDGER_CHECKPOINT_INTERVAL_MS: '100',
        CTP_LEDGER_BATCH_WAIT_MS: '20',
        CTP_TSA_URL: tsa.url,
        CTP_TSA_ROOTS: join(dir, 'tsa-roots.pem'),
        CTP_LEDGER_ANCHOR_INTERVAL_MS: '1000',
        LOG_LEVEL: 'error',
        ...extra,
      },
      { readyTimeoutMs: 60_000 },
    );
  let published = 0;
  const publish = async (issued: number, revoked: number) => {
    for (let i = 0; i < issued; i++) {
      const id = `dr-${published++}`;
      await bus.publish(ledgerSubject('consent.issued'), { event_id: id, type: 'consent.issued', jti: `jti-${id}`, purpose: 'customer_retention', sub: 'pairwise' }, { msgId: id });
    }
    for (let i = 0; i < revoked; i++) {
      const jti = `jti-dr-rev-${published++}`;
      await bus.publish(revocationSubject('acme'), { type: 'consent.revoked', jti, partner_id: 'acme', reason: 'user_revoked', revoked_at_ms: Date.now(), expires_at: Math.floor(Date.now() / 1000) + 300 }, { msgId: jti });
    }
  };
  const get = async <T>(path: string): Promise<T> => (await (await fetch(`${writer!.url}${path}`)).json()) as T;
  /** The writer has appended `size` entries, signed a checkpoint over them and anchored it. */
  const settled = (size: number, anchored = true) =>
    waitFor(async () => {
      const checkpoint = await get<{ size: number }>('/ledger/checkpoint');
      if (checkpoint.size !== size) return false;
      if (!anchored) return true;
      return (await get<{ anchors: { checkpoint_size: number }[] }>('/ledger/anchors')).anchors.some((a) => a.checkpoint_size === size);
    }, 60_000, `a checkpoint (and anchor) over ${size} entries`);
  const exportAndVerify = async (name: string) => {
    const pack = join(dir, `${name}.zip`);
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 3_600_000).toISOString();
    const exported = await ctp(['export', '--from', from, '--to', to, '--out', pack, '--url', writer!.url]);
    expect([exported.status, exported.stderr]).toEqual([0, '']);
    const vkey = (await get<{ keys: { vkey: string }[] }>('/ledger/verifiers')).keys[0]!.vkey;
    const verified = await ctp(['verify', pack, '--key', vkey, '--tsa-root', join(dir, 'tsa-roots.pem'), '--json']);
    expect([verified.status, verified.stderr]).toEqual([0, '']);
    return JSON.parse(verified.stdout) as { ok: boolean; entries: number; checkpointSize: number; anchors: unknown[]; anchorsChecked: boolean };
  };

  it('restores every entry, checkpoint and anchor, replays what the backup missed, and continues the same chain', async () => {
    // 1. A populated ledger: issuances and revocations, checkpointed and anchored.
    writer = await startWriter(original!);
    await publish(120, 30);
    await settled(150);
    const before = await exportAndVerify('before');
    expect(before).toMatchObject({ ok: true, entries: 150, checkpointSize: 150, anchorsChecked: true });

    // 2. Back up: the roles (the migrations' ctp_ledger_writer) and the ledger schema.
    const atBackup = await snapshot(original!.url);
    const dumpedAtMs = Date.now();
    writeFileSync(join(dir, 'roles.sql'), pg('pg_dumpall', [...hostPort(original!), '--roles-only', '--no-role-passwords']));
    pg('pg_dump', [...hostPort(original!), '-d', 'postgres', '--schema', SCHEMA, '--format', 'custom', '--file', join(dir, 'ledger.dump')]);
    expect(atBackup.entries).toHaveLength(150);
    expect(atBackup.anchors.map((a) => a.checkpoint_size)).toContain(150);

    // 3. Work the backup does not have: committed and acknowledged on the bus before the disaster.
    await publish(40, 10);
    await settled(200, false);
    const lostCheckpoint = (await snapshot(original!.url)).checkpoints.at(-1)!;
    expect(lostCheckpoint.size).toBe(200);

    // 4. Disaster: the writer stops and the database server is gone for good.
    await writer.stop();
    await original!.destroy();
    original = undefined;

    // 5. Restore into a fresh PostgreSQL: roles first, then the dump.
    pg('psql', [...hostPort(fresh!), '-d', 'postgres', '-q', '-f', join(dir, 'roles.sql')]);
    pg('pg_restore', [...hostPort(fresh!), '-d', 'postgres', '--exit-on-error', join(dir, 'ledger.dump')]);
    expect(await snapshot(fresh!.url)).toEqual(atBackup);

    // 6. The same writer configuration starts on it: the integrity check at start passes, and the
    //    durable consumer, which acknowledged the lost events, does not redeliver them.
    writer = await startWriter(fresh!);
    await settled(150);
    expect(await (await fetch(`${writer.url}/metrics`)).text()).toContain('ctp_ledger_integrity_ok 1');
    const restored = await exportAndVerify('restored');
    expect(restored).toMatchObject({ ok: true, entries: 150, checkpointSize: 150, anchorsChecked: true });
    expect(restored.anchors).toEqual(before.anchors);
    expect((await snapshot(fresh!.url)).entries).toHaveLength(150);
    const verifiers = (await get<{ keys: { vkey: string }[] }>('/ledger/verifiers')).keys.map((k) => NoteVerifier.parse(k.vkey));
    const c150 = parseCheckpoint(openNote(atBackup.checkpoints.at(-1)!.note, verifiers).text);
    for (const seq of [1, 75, 150]) {
      const proof = await get<{ proof: string[]; leaf_hash: string }>(`/ledger/proofs/inclusion?seq=${seq}&size=150`);
      expect([seq, verifyInclusion(seq - 1, 150, Buffer.from(proof.leaf_hash, 'base64'), proof.proof.map((p) => Buffer.from(p, 'base64')), c150.root)]).toEqual([seq, true]);
    }

    // 7. Behind the bus: a new durable consumer replays the streams from before the dump; events the
    //    ledger has are recognised by their ids, the 50 it lacks are appended.
    await writer.stop();
    writer = await startWriter(fresh!, { CTP_LEDGER_DURABLE: 'ledger-writer-restore-1', CTP_LEDGER_REPLAY_FROM: new Date(dumpedAtMs - 60_000).toISOString() });
    await settled(200);
    const replayed = await snapshot(fresh!.url);
    expect(replayed.entries.slice(0, 150)).toEqual(atBackup.entries);
    expect(new Set(replayed.entries.map((e) => e.event_id)).size).toBe(200);
    expect(replayed.entries.map((e) => e.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    // The checkpoint signed over the lost entries before the disaster belongs to a history that no
    // longer exists (the replayed entries carry new append times): the fork the runbook reports.
    const latest = parseCheckpoint(openNote((await get<{ note: string }>('/ledger/checkpoint')).note, verifiers).text);
    expect(Buffer.from(lostCheckpoint.root, 'hex').equals(latest.root)).toBe(false);

    // 8. The writer continues the same chain: new entries, checkpoints consistent with the restored ones.
    await publish(25, 0);
    await settled(225);
    const after = parseCheckpoint(openNote((await get<{ note: string }>('/ledger/checkpoint')).note, verifiers).text);
    const consistency = await get<{ proof: string[] }>(`/ledger/proofs/consistency?first=150&second=${after.size}`);
    expect(verifyConsistency(150, after.size, c150.root, after.root, consistency.proof.map((p) => Buffer.from(p, 'base64')))).toBe(true);
    expect(await exportAndVerify('continued')).toMatchObject({ ok: true, entries: 225, checkpointSize: 225, anchorsChecked: true });
    expect(await (await fetch(`${writer.url}/metrics`)).text()).toContain('ctp_ledger_integrity_ok 1');
  }, 300_000);
});
