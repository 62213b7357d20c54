import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { startTopology, ROOT, type Topology } from './topology';
import { GUIDE_ENVELOPE } from '@ctp/testing';
import { IngressClient, retryable } from './client';

/**
 * Issue 15.4: the production shape on loopback (tools/topology: 3 NATS servers at R3, Redis with
 * Sentinel, PostgreSQL, two replicas of each service, nginx TLS 1.3) under a steady mix of
 * issue / introspect / revoke through the Ingress, while one process of each role is killed in turn
 * (SIGKILL; PostgreSQL restarted). Afterwards: every acknowledged revocation is denied by every
 * introspector, every acknowledged issue and revocation is in the ledger exactly once, the exported
 * pack verifies (`ctp verify`), and clients saw only retryable errors. The failover windows are
 * measured and written to var/topology-windows.json (BENCHMARKS.md takes them from there).
 */
const ENVELOPE = GUIDE_ENVELOPE;
const BASE = Number(process.env.CTP_TOPOLOGY_TEST_BASE_PORT ?? 19_100);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Op = 'issue' | 'introspect' | 'revoke';
interface Outcome {
  op: Op;
  at: number;
  ok: boolean;
  retryable: boolean;
  detail: string;
}

describe('the production topology loses nothing when any one process dies', () => {
  let topology: Topology;
  let client: IngressClient;
  let sql: postgres.Sql;
  const outcomes: Outcome[] = [];
  const issued = new Map<string, string>();
  const revoked = new Map<string, string>();
  let running = true;

  beforeAll(async () => {
    topology = await startTopology({ base: BASE, dir: join(ROOT, 'var/topology-test') });
    client = new IngressClient(topology.url, topology.ca);
    sql = postgres(topology.ledgerOwnerUrl, { max: 2, onnotice: () => undefined, connection: { search_path: topology.ledgerSchema } });
  }, 400_000);
  afterAll(async () => {
    running = false;
    client?.close();
    await sql?.end({ timeout: 1 }).catch(() => undefined);
    await topology?.stop();
  }, 120_000);

  const call = async (op: Op, body: unknown): Promise<Record<string, unknown> | null> => {
    const at = Date.now();
    try {
      const res = await client.post(`/${op}`, body);
      const ok = res.status === 200;
      outcomes.push({ op, at, ok, retryable: ok || retryable(res), detail: ok ? '' : `${res.status} ${JSON.stringify(res.body).slice(0, 160)}` });
      return ok ? res.body : null;
    } catch (error) {
      outcomes.push({ op, at, ok: false, retryable: true, detail: (error as Error).message });
      return null;
    }
  };

  /** One client: issue, introspect (it must be active), revoke every other token. */
  const worker = async (w: number) => {
    for (let i = 0; running; i++) {
      const token = await call('issue', ENVELOPE);
      if (!token) {
        await sleep(100);
        continue;
      }
      issued.set(token.jti as string, token.token as string);
      const decision = await call('introspect', { token: token.token, context_envelope: ENVELOPE });
      if (decision && decision.active !== true) outcomes.push({ op: 'introspect', at: Date.now(), ok: false, retryable: false, detail: `a live token was denied: ${JSON.stringify(decision)}` });
      if ((i + w) % 2 === 0 && (await call('revoke', { jti: token.jti, reason: 'user_revoked' }))) revoked.set(token.jti as string, token.token as string);
      await sleep(20);
    }
  };

  /** Time from `since` to the first success of `op` (the first request that needed the dead role). */
  const firstSuccess = async (op: Op, since: number, timeoutMs = 60_000): Promise<number> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = outcomes.find((o) => o.op === op && o.ok && o.at >= since);
      if (hit) return hit.at - since;
      if (Date.now() > deadline) throw new Error(`no successful ${op} within ${timeoutMs} ms after the kill`);
      await sleep(50);
    }
  };

  const leader = async () => {
    const [row] = await sql<{ epoch: string; holder: string }[]>`SELECT epoch, holder FROM ledger_leader_epochs ORDER BY epoch DESC LIMIT 1`;
    return { epoch: Number(row!.epoch), pid: Number(row!.holder.split('/').pop()) };
  };

  it('rides through the loss of every role, and nothing is lost', async () => {
    // Both issuers sign with the one key set: every introspector accepts tokens from either.
    for (const issuerReplica of topology.replicas.filter((r) => r.service === 'issuer')) {
      const res = await fetch(`http://127.0.0.1:${issuerReplica.port}/issue`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ENVELOPE) });
      const token = (await res.json()) as { token: string };
      for (const introspector of topology.replicas.filter((r) => r.service === 'introspector')) {
        const decision = await fetch(`http://127.0.0.1:${introspector.port}/introspect`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: token.token, context_envelope: ENVELOPE }) });
        expect([issuerReplica.name, introspector.name, ((await decision.json()) as { active: boolean }).active]).toEqual([issuerReplica.name, introspector.name, true]);
      }
    }

    const startedAt = new Date(Date.now() - 60_000);
    const workers = [0, 1, 2].map((w) => worker(w));
    await sleep(3_000);
    const windows: Record<string, number> = {};
    const replica = (name: string) => topology.replicas.find((r) => r.name === name)!;

    for (const [name, op] of [['issuer-0', 'issue'], ['introspector-0', 'introspect'], ['revocation-broadcaster-0', 'revoke']] as const) {
      const at = Date.now();
      replica(name).kill('SIGKILL');
      windows[name.replace(/-0$/, '')] = await firstSuccess(op, at);
      await sleep(4_000);
    }

    // The ledger leader: a standby takes the lease and appends under a new epoch.
    const before = await leader();
    const victim = topology.replicas.find((r) => r.service === 'ledger-writer' && r.pid === before.pid)!;
    const killedAt = Date.now();
    victim.kill('SIGKILL');
    for (;;) {
      const [row] = await sql<{ at: Date | null }[]>`SELECT min(e.recorded_at) AS at FROM ledger_entries e WHERE e.leader_epoch > ${before.epoch}`;
      if (row?.at) {
        windows['ledger-writer (kill to first append by the new leader)'] = Math.max(0, row.at.getTime() - killedAt);
        break;
      }
      if (Date.now() - killedAt > 90_000) throw new Error('no append by a new ledger leader within 90 s');
      await sleep(100);
    }
    await sleep(3_000);

    // One NATS server (the cluster keeps R3 streams writable with 2 of 3).
    let at = Date.now();
    await topology.nats[0]!.stop('immediate');
    windows['nats node'] = await firstSuccess('issue', at);
    await sleep(4_000);
    await topology.nats[0]!.start();
    await sleep(3_000);

    // The Redis primary: Sentinel promotes the replica.
    at = Date.now();
    await topology.redis.nodes[0]!.stop('immediate');
    windows['redis primary (Sentinel failover)'] = await firstSuccess('revoke', at);
    await sleep(4_000);
    await topology.redis.nodes[0]!.start();
    await sleep(3_000);

    // PostgreSQL restarted (immediate: WAL recovery). Issue and revoke go on; the ledger catches up.
    at = Date.now();
    await topology.postgres!.restart('immediate');
    const pgBack = Date.now();
    for (;;) {
      const [row] = await sql<{ at: Date | null }[]>`SELECT max(recorded_at) AS at FROM ledger_entries`.catch(() => [{ at: null }]);
      if (row?.at && row.at.getTime() > pgBack) {
        windows['postgresql restart (to the next append)'] = row.at.getTime() - at;
        break;
      }
      if (Date.now() - at > 90_000) throw new Error('no ledger append within 90 s of the PostgreSQL restart');
      await sleep(200);
    }
    await sleep(3_000);

    running = false;
    await Promise.all(workers);

    // Clients saw only retryable errors.
    const fatal = outcomes.filter((o) => !o.retryable);
    expect(fatal.map((o) => `${o.op} ${o.detail}`)).toEqual([]);

    // Every acknowledged revocation is denied by every introspector.
    for (const introspector of topology.replicas.filter((r) => r.service === 'introspector')) {
      for (const [jti, token] of revoked) {
        const res = await fetch(`http://127.0.0.1:${introspector.port}/introspect`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, context_envelope: ENVELOPE }) });
        const decision = (await res.json()) as { active: boolean };
        expect([introspector.name, jti, decision.active]).toEqual([introspector.name, jti, false]);
      }
    }

    // Every acknowledged issue and revocation is in the ledger exactly once.
    const counts = async () =>
      new Map((await sql<{ key: string; n: string }[]>`SELECT type || ' ' || jti AS key, count(*) AS n FROM ledger_entries WHERE type IN ('consent.issued', 'consent.revoked') GROUP BY 1`).map((r) => [r.key, Number(r.n)]));
    const expected = [...[...issued.keys()].map((j) => `consent.issued ${j}`), ...[...revoked.keys()].map((j) => `consent.revoked ${j}`)];
    const deadline = Date.now() + 120_000;
    let seen = await counts();
    while (expected.some((k) => !seen.has(k)) && Date.now() < deadline) {
      await sleep(1_000);
      seen = await counts();
    }
    expect(expected.filter((k) => seen.get(k) !== 1)).toEqual([]);
    expect([...seen.values()].filter((n) => n !== 1)).toEqual([]);

    // The chain is intact: export a pack through the ledger Service and verify it offline.
    const size = Number((await sql<{ n: string }[]>`SELECT max(seq) AS n FROM ledger_entries`)[0]!.n);
    const signed = Date.now() + 30_000;
    while (Number((await sql<{ n: string | null }[]>`SELECT max(size) AS n FROM ledger_checkpoints`)[0]!.n ?? 0) < size && Date.now() < signed) await sleep(500);
    const pack = join(topology.dir, 'pack.zip');
    const ctp = (...args: string[]) => execFileSync(process.execPath, ['--import', 'tsx', 'apps/ctp/src/main.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    ctp('export', '--from', startedAt.toISOString(), '--to', new Date(Date.now() + 60_000).toISOString(), '--out', pack, '--url', `http://127.0.0.1:${topology.ports.services['ledger-writer']}`);
    const verified = JSON.parse(ctp('verify', pack, '--key', topology.verifierKey, '--json')) as { ok: boolean };
    expect(verified.ok).toBe(true);

    const failures = outcomes.filter((o) => !o.ok);
    const summary = {
      measuredAt: new Date().toISOString(),
      requests: outcomes.length,
      retryableFailures: failures.length,
      issued: issued.size,
      revoked: revoked.size,
      ledgerEntries: size,
      windowsMs: windows,
      restarts: Object.fromEntries(topology.replicas.map((r) => [r.name, r.restarts])),
    };
    mkdirSync(join(ROOT, 'var'), { recursive: true });
    writeFileSync(join(ROOT, 'var/topology-windows.json'), `${JSON.stringify(summary, null, 2)}\n`);
    console.log(JSON.stringify(summary, null, 2));
  }, 600_000);
});
