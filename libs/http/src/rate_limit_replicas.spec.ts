import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { REDIS_URL, REPO_ROOT } from '@ctp/testing';

/**
 * The batched Redis rate limiter across two real processes sharing one Redis: Redis charges
 * every cell it grants, so the replicas together never get more than the limit, whatever
 * batches they take; cells granted in one lease are spent at most `leaseMs` later, which
 * bounds the overshoot in any window by replicas x batch (docs/operations.md).
 */
interface Replica {
  child: ChildProcess;
  ready: Promise<void>;
  result: Promise<{ allowed: number; refused: number }>;
}

function startReplica(env: Record<string, string>): Replica {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '__fixtures__', 'rate_limit_replica.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  let onReady: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const result = new Promise<{ allowed: number; refused: number }>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.startsWith('ready\n')) onReady();
    });
    child.once('exit', (code) => {
      const last = out.trim().split('\n').pop()!;
      if (code === 0) resolve(JSON.parse(last) as { allowed: number; refused: number });
      else reject(new Error(`replica exited with ${code}`));
    });
  });
  return { child, ready, result };
}

async function evalCalls(redis: Redis): Promise<number> {
  const stats = await redis.info('commandstats');
  return [...stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
}

async function runReplicas(limit: { requests: number; periodSeconds: number }, leaseMs: number, calls: number) {
  const env = {
    REPLICA_REDIS_URL: REDIS_URL,
    REPLICA_PREFIX: `ctp-test:${randomUUID()}:`,
    REPLICA_LEASE_MS: String(leaseMs),
    REPLICA_REQUESTS: String(limit.requests),
    REPLICA_PERIOD_S: String(limit.periodSeconds),
    REPLICA_CALLS: String(calls),
    REPLICA_CONCURRENCY: '16',
  };
  const replicas = [startReplica(env), startReplica(env)];
  await Promise.all(replicas.map((r) => r.ready));
  const redis = new Redis(REDIS_URL);
  try {
    const before = await evalCalls(redis);
    const t0 = performance.now();
    for (const r of replicas) r.child.stdin!.end('go\n');
    const results = await Promise.all(replicas.map((r) => r.result));
    const seconds = (performance.now() - t0) / 1000;
    return { results, seconds, redisCalls: (await evalCalls(redis)) - before };
  } finally {
    redis.disconnect();
  }
}

describe('batched Redis rate limits across two processes', () => {
  it('never grants the replicas together more than the limit, in few Redis calls', async () => {
    // 1,000 per hour: the refill during the test is under one cell per 3.6 s; a lease of an hour
    // makes the batch the full 64 cells. Each replica asks for 1,500 decisions.
    const { results, seconds, redisCalls } = await runReplicas({ requests: 1000, periodSeconds: 3600 }, 3_600_000, 1500);
    const allowed = results.reduce((a, r) => a + r.allowed, 0);
    const refused = results.reduce((a, r) => a + r.refused, 0);
    expect(allowed + refused).toBe(3000);
    expect(allowed).toBeLessThanOrEqual(1000 + Math.ceil(seconds / 3.6));
    // Both replicas kept asking until refused, so no granted cell was left unspent. (Which replica
    // got how many is up to the scheduler: on a loaded machine one may take every batch.)
    expect(allowed).toBeGreaterThanOrEqual(1000);
    // The allowed decisions took batches (1,000 / 64 calls and the calls that shared a batch's
    // wait); every refusal asked Redis, as a limit with no cells left must.
    expect(redisCalls - refused).toBeLessThan(200);
  }, 60_000);

  it('bounds the overshoot by replicas x batch while the limit refills fast', async () => {
    // 2,000/s, lease 50 ms: batches of 64 cells.
    const limit = { requests: 2000, periodSeconds: 1 };
    const { results, seconds } = await runReplicas(limit, 50, 6000);
    const allowed = results.reduce((a, r) => a + r.allowed, 0);
    expect(allowed + results.reduce((a, r) => a + r.refused, 0)).toBe(12_000);
    // Burst + refill over the whole run (Redis's clock and ours agree on one machine) + 2 replicas x 64.
    expect(allowed).toBeLessThanOrEqual(limit.requests + Math.ceil(limit.requests * seconds) + 2 * 64);
    expect(allowed).toBeGreaterThan(0);
  }, 60_000);
});
