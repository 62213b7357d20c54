import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { NatsBus } from '@ctp/bus';
import { NoteSigner } from '@ctp/ledger-core';
import { LEDGER_STREAM_SPEC, ledgerSubject, REVOCATION_STREAM_SPEC } from '@ctp/events';
import { NATS_URL, PG_URL, waitFor } from '@ctp/testing';
import { FENCED_SQLSTATE, isFenced, LEADER_LOCK_CLASS, LeaderLease } from './leader';
import { LedgerStore } from './store';
import { ensurePartitions } from './tiers/partitions';
import { LedgerWriter } from './writer';

/**
 * The HA ledger writer on real PostgreSQL (and NATS): one leader at a time through the lease,
 * the fence that refuses a batch or checkpoint from an epoch that no longer leads (the paused
 * old leader), bounded takeover when the leader's session goes silent, and a standby that keeps
 * its tree current from the database.
 */
const signers = [new NoteSigner('ctp.test/ledger', generateKeyPairSync('ed25519').privateKey)];
/** A leader in its own process, to be paused: prints `leading <epoch>`, then `lost <reason>`. */
const PAUSABLE_LEADER = `
const { LeaderLease } = require('./leader');
const lease = new LeaderLease({ url: process.env.LEASE_URL, schema: process.env.LEASE_SCHEMA, holder: 'writer-paused', leaseMs: 1000, pollMs: 50 });
lease.onLost((reason) => console.log('lost ' + reason));
lease.acquire().then((epoch) => console.log('leading ' + epoch));
setInterval(() => undefined, 1000);
`;
const event = (id: string) => ({ eventId: `consent.issued:${id}`, type: 'consent.issued', data: { jti: id, purpose: 'p' } });

describe('ledger leader lease and fencing (PostgreSQL)', () => {
  const schema = `ledger_ha_${randomBytes(4).toString('hex')}`;
  let store: LedgerStore;
  const leases: LeaderLease[] = [];
  const lease = (holder: string, leaseMs = 1_000) => {
    const l = new LeaderLease({ url: PG_URL, schema, holder, leaseMs, pollMs: 50 });
    leases.push(l);
    return l;
  };

  beforeAll(async () => {
    store = await LedgerStore.open(PG_URL, { schema });
  });
  afterAll(async () => {
    await Promise.all(leases.map((l) => l.stop().catch(() => undefined)));
    await store.close();
  });

  it('appends unstamped while no leader was ever elected; then only the newest epoch appends', async () => {
    expect(await store.append([event('before-any-leader')])).toHaveLength(1);
    const a = lease('writer-a');
    expect(await a.tryAcquire()).toBe(1);
    expect(await lease('writer-x').tryAcquire()).toBeNull();

    store.leaderEpoch = null;
    expect(isFenced(await store.append([event('unstamped')]).catch((e: unknown) => e))).toBe(true);
    store.leaderEpoch = 1;
    expect(await store.append([event('epoch-1')])).toHaveLength(1);
    store.leaderEpoch = 7;
    expect(isFenced(await store.append([event('made-up-epoch')]).catch((e: unknown) => e))).toBe(true);
    await a.stop();
  });

  it('fences a paused old leader: the server ends its lease, and its batch and checkpoint are refused', async () => {
    // A real process leads, then is paused (SIGSTOP): its heartbeats stop, its socket stays open.
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', PAUSABLE_LEADER], {
      cwd: __dirname,
      env: { ...process.env, LEASE_URL: PG_URL, LEASE_SCHEMA: schema },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
    try {
      await waitFor(() => lines.includes('leading 2'), 30_000, 'the child to lead');
      const b = lease('writer-b', 1_000);
      expect(await b.tryAcquire()).toBeNull();
      child.kill('SIGSTOP');
      const pausedAt = Date.now();
      expect(await b.acquire()).toBe(3);
      // Bounded: the lease (1 s) plus a poll, never a wait for the paused process.
      expect(Date.now() - pausedAt).toBeLessThan(15_000);

      // The old leader wakes up with a batch and a checkpoint stamped with its epoch (2).
      const old = await LedgerStore.open(PG_URL, { schema });
      try {
        old.leaderEpoch = 2;
        const refused = await old.append([event('from-the-past')]).catch((e: unknown) => e);
        expect((refused as { code?: string }).code).toBe(FENCED_SQLSTATE);
        expect(String(refused)).toMatch(/epoch 2 is not the leader, epoch 3 is/);
        const checkpoint = { size: await old.size(), root: Buffer.alloc(32), note: 'n', previousSize: null, consistency: [], createdAt: new Date() };
        expect(isFenced(await old.addCheckpoint(checkpoint).catch((e: unknown) => e))).toBe(true);
        expect(await store.entriesByJti('from-the-past')).toEqual([]);
      } finally {
        await old.close();
      }
      // Resumed, the old leader's own heartbeat tells it the lease is gone.
      child.kill('SIGCONT');
      await waitFor(() => lines.some((l) => l.startsWith('lost')), 15_000, 'the old leader to notice');
      store.leaderEpoch = 3;
      expect(await store.append([event('epoch-3')])).toHaveLength(1);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  it('claims an epoch only while holding the leader lock, and epochs are append-only', async () => {
    const sql = postgres(PG_URL, { max: 1, onnotice: () => undefined, connection: { search_path: schema } });
    try {
      await expect(sql`INSERT INTO ledger_leader_epochs (epoch, holder) VALUES (4, 'intruder')`).rejects.toThrow(/holding the leader lock/);
      await expect(sql`UPDATE ledger_leader_epochs SET holder = 'x' WHERE epoch = 1`).rejects.toThrow(/append-only/);
      const rows = await sql<{ epoch: string; holder: string }[]>`SELECT epoch, holder FROM ledger_leader_epochs ORDER BY epoch`;
      expect(rows.map((r) => [Number(r.epoch), r.holder])).toEqual([
        [1, 'writer-a'],
        [2, 'writer-paused'],
        [3, 'writer-b'],
      ]);
      const stamped = await sql<{ leader_epoch: string | null }[]>`SELECT leader_epoch FROM ledger_entries ORDER BY seq`;
      expect(stamped.map((r) => r.leader_epoch && Number(r.leader_epoch))).toEqual([null, 1, 3]);
    } finally {
      await sql.end();
    }
  });

  it('writers starting together create the same month partitions without failing', async () => {
    const others = await Promise.all([1, 2, 3].map(() => LedgerStore.open(PG_URL, { schema })));
    try {
      const month = new Date(Date.UTC(2031, 0, 15));
      const results = await Promise.all([store, ...others].map((s) => ensurePartitions(s.sql, month, 2)));
      expect(results.map((r) => r.length)).toEqual([3, 3, 3, 3]);
    } finally {
      await Promise.all(others.map((s) => s.close()));
    }
  });

  it('a dead leader (its session closed) is replaced at the next poll', async () => {
    const b = leases.at(-1)!;
    const c = lease('writer-c', 5_000);
    expect(await c.tryAcquire()).toBeNull();
    await b.stop();
    const started = Date.now();
    expect(await c.acquire()).toBe(4);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('each ledger schema in the database has a leader lock of its own', async () => {
    // Advisory locks are per database: another schema's writer leads while this schema's leader holds its lock.
    const other = await LedgerStore.open(PG_URL, { schema: `${schema}_b` });
    try {
      const elsewhere = new LeaderLease({ url: PG_URL, schema: `${schema}_b`, holder: 'writer-elsewhere', leaseMs: 1_000, pollMs: 50 });
      leases.push(elsewhere);
      expect(leases.at(-2)!.epoch).toBe(4);
      expect(await elsewhere.tryAcquire()).toBe(1);
    } finally {
      await other.close();
    }
  });
});

describe('HA ledger writers over NATS and PostgreSQL', () => {
  const schema = `ledger_hw_${randomBytes(4).toString('hex')}`;
  const run = randomBytes(3).toString('hex');
  const startedAt = Date.now();
  let bus: NatsBus;
  const stores: LedgerStore[] = [];
  const writers: LedgerWriter[] = [];
  const leases: LeaderLease[] = [];

  beforeAll(async () => {
    bus = await NatsBus.connect({ servers: NATS_URL, name: 'leader-spec' });
    await bus.ensureStreams([LEDGER_STREAM_SPEC, REVOCATION_STREAM_SPEC]);
  });
  afterAll(async () => {
    for (const w of writers) await w.stop();
    await Promise.all(leases.map((l) => l.stop().catch(() => undefined)));
    await Promise.all(stores.map((s) => s.close()));
    await bus.close();
  });

  const writer = async (name: string, lost: string[]) => {
    const store = await LedgerStore.open(PG_URL, { schema });
    const lease = new LeaderLease({ url: PG_URL, schema, holder: name, leaseMs: 1_000, pollMs: 50 });
    const w = new LedgerWriter({
      store, bus, signers, origin: 'ctp.test/ledger', durable: `ha-${run}`, fromTimeMs: startedAt,
      checkpointIntervalMs: 100, maxWaitMs: 20, standbyRefreshMs: 100, lease, onLeadershipLost: (reason) => lost.push(reason),
    });
    stores.push(store);
    leases.push(lease);
    writers.push(w);
    await w.start();
    return { w, lease, store };
  };
  // The writers consume every ledger event published since the suite started, and suites running
  // beside this one publish to the same stream on the shared test NATS: wait for this suite's own
  // events rather than for a count.
  const allRecorded = async (store: LedgerStore, jtis: string[]) => {
    for (const jti of jtis) if ((await store.entriesByJti(jti)).length === 0) return false;
    return true;
  };
  const publish = async (from: number, to: number) => {
    const jtis: string[] = [];
    for (let i = from; i < to; i++) {
      const jti = randomUUID();
      jtis.push(jti);
      await bus.publish(ledgerSubject('consent.issued'), { event_id: `consent.issued:${run}-${i}`, type: 'consent.issued', jti });
    }
    return jtis;
  };

  it('one leader appends and signs; the standby serves a current tree and takes over when the leader goes', async () => {
    const lostA: string[] = [];
    const lostB: string[] = [];
    const a = await writer('a', lostA);
    await a.w.leadership();
    expect(a.w.leading).toBe(true);
    const b = await writer('b', lostB);
    expect(b.w.leading).toBe(false);

    const first = await publish(0, 40);
    await waitFor(() => allRecorded(a.store, first), 20_000, 'the leader to append');
    // The standby's tree follows the database, and it serves the leader's checkpoints.
    const n1 = await a.store.size();
    await waitFor(() => b.w.tree.size >= n1 && (b.w.checkpointed?.size ?? 0) >= n1, 20_000, 'the standby to catch up');
    expect(b.w.tree.root(n1).equals(a.w.tree.root(n1))).toBe(true);
    expect(await b.w.checkpoint()).toBeNull();

    // The leader dies (its lease connection closes and it stops consuming); the standby takes over.
    await a.w.stop();
    await a.lease.stop();
    const killedAt = Date.now();
    await b.w.leadership();
    expect(b.w.leading).toBe(true);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    const second = await publish(40, 80);
    await waitFor(() => allRecorded(b.store, second), 40_000, 'the new leader to append');
    for (const jti of [...first, ...second]) expect(await b.store.entriesByJti(jti)).toHaveLength(1);
    const epochs = await b.store.sql<{ leader_epoch: string }[]>`SELECT DISTINCT leader_epoch FROM ledger_entries ORDER BY leader_epoch`;
    expect(epochs.map((r) => Number(r.leader_epoch))).toEqual([1, 2]);
    const n2 = await b.store.size();
    await waitFor(() => (b.w.checkpointed?.size ?? 0) >= n2, 10_000, 'the new leader to sign');
    expect(await b.w.verifyIntegrity(true)).toBe(true);
    expect(lostA).toEqual([]);
  }, 90_000);

  it('a leader whose lease is taken steps down on its own', async () => {
    const b = writers[1]!;
    const lostB: string[] = [];
    const bLease = leases[1]!;
    bLease.onLost((reason) => lostB.push(reason));
    // Another session ends B's lease connection (the one holding this schema's leader lock), as the server does with a silent one.
    const sql = postgres(PG_URL, { max: 1, onnotice: () => undefined });
    try {
      await sql`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted
        AND classid = ${LEADER_LOCK_CLASS}::oid AND objid = hashtext(${schema})::oid AND objsubid = 2`;
    } finally {
      await sql.end();
    }
    await waitFor(() => lostB.length > 0, 10_000, 'the leader to notice');
    // It stands by again and, the lock being free, leads once more with a new epoch.
    await waitFor(() => b.leading, 10_000, 'the writer to lead again');
    expect(b.leading).toBe(true);
    const [newest] = await stores[1]!.sql<{ epoch: string }[]>`SELECT max(epoch) AS epoch FROM ledger_leader_epochs`;
    expect(Number(newest!.epoch)).toBe(3);
    const jtis = await publish(80, 90);
    await waitFor(() => allRecorded(stores[1]!, jtis), 20_000, 'appends under the new epoch');
    for (const jti of jtis) expect(await stores[1]!.entriesByJti(jti)).toHaveLength(1);
  }, 40_000);
});
