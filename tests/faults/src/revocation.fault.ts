import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GUIDE_ENVELOPE,
  NATS_URL,
  postJson,
  REDIS_URL,
  startService,
  stopNats,
  stopRedis,
  tsEntry,
  waitFor,
  type ServiceProcess,
} from '@ctp/testing';

/**
 * Real NATS and Redis, stopped and restarted by the test, with the issuer,
 * broadcaster and introspector as separate processes. In every case a revoked
 * token must be denied afterwards and no revocation may be lost. The servers are
 * the ones CTP_TEST_NATS_URL and CTP_TEST_REDIS_URL name (the shared local ones
 * by default): point them at private servers on a shared machine.
 */
describe('revocation under faults (real NATS and Redis, restarted)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctp-faults-'));
  const backends = { CTP_NATS_URL: NATS_URL, CTP_REDIS_URL: REDIS_URL, CTP_REDIS_PREFIX: `fault:${randomBytes(4).toString('hex')}:`, CTP_DEV_MODE: 'true' };
  let issuer: ServiceProcess;
  let broadcaster: ServiceProcess;
  let introspector: ServiceProcess;

  const startIntrospector = () =>
    startService(tsEntry('apps/introspector/src/main.ts'), {
      ...backends,
      CTP_JWKS_URL: `${issuer.url}/.well-known/jwks.json`,
      CTP_REVOCATION_PULL_INTERVAL_MS: '200',
      CTP_REVOCATION_STALE_AFTER_MS: '1500',
    });

  beforeAll(async () => {
    issuer = await startService(tsEntry('apps/issuer/src/main.ts'), { ...backends, CTP_KEY_DIR: join(dir, 'keys'), CTP_SUBJECT_SECRET_FILE: join(dir, 'secret') });
    broadcaster = await startService(tsEntry('apps/revocation-broadcaster/src/main.ts'), backends);
    introspector = await startIntrospector();
  });
  /** Restarts owed for servers a test stopped; run after each test whatever it did. */
  const down = new Set<() => Promise<void>>();
  const stop = async (server: typeof stopNats) => {
    const start = await server();
    const restart = async () => {
      down.delete(restart);
      await start();
    };
    down.add(restart);
    return restart;
  };
  const stopNatsServer = () => stop(stopNats);
  const stopRedisServer = () => stop(stopRedis);
  afterEach(async () => {
    for (const restart of [...down]) await restart();
  });
  afterAll(async () => {
    await Promise.all([introspector?.stop(), broadcaster?.stop(), issuer?.stop()]);
  });

  /** Issues, retrying while NATS is reconnecting (the issuer answers 503 and issues nothing until the bus is back). */
  const issue = async () => {
    for (let attempt = 0; attempt < 100; attempt++) {
      const r = await postJson(`${issuer.url}/issue`, GUIDE_ENVELOPE);
      if (r.status === 200) return r.body as { token: string; jti: string };
      expect(r.status).toBe(503);
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error('issue never succeeded');
  };
  const decision = async (token: string, at = introspector) =>
    (await postJson(`${at.url}/introspect`, { token, context_envelope: GUIDE_ENVELOPE })).body as { decision: string; reason: string | null };
  /** Revokes, retrying while a dependency is down (the API is idempotent). */
  const revoke = async (jti: string) => {
    for (let attempt = 0; attempt < 100; attempt++) {
      const r = await postJson(`${broadcaster.url}/revoke`, { jti, reason: 'user_revoked' }).catch(() => ({ status: 0 }));
      if (r.status === 200) return attempt;
      expect([0, 503]).toContain(r.status);
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(`revoke ${jti} never succeeded`);
  };
  const expectDenied = async (tokens: { token: string }[], at = introspector) => {
    for (const { token } of tokens) await waitFor(async () => (await decision(token, at)).reason === 'revoked', 5000, 'revoked decision');
  };

  const issueMany = async (n: number) => {
    const tokens: { token: string; jti: string }[] = [];
    while (tokens.length < n) tokens.push(...(await Promise.all(Array.from({ length: Math.min(20, n - tokens.length) }, issue))));
    return tokens;
  };
  /** How many revocations this introspector has received over the bus since it started. */
  const pushReceipts = async (at = introspector) =>
    Number(/ctp_revocation_propagation_seconds_count\{channel="push"\} (\d+)/.exec(await (await fetch(`${at.url}/metrics`)).text())?.[1] ?? 0);
  const restartServer = async (server: 'NATS' | 'Redis') => (await (server === 'NATS' ? stopNatsServer() : stopRedisServer()))();

  it.each([
    ['NATS, then Redis', ['NATS', 'Redis'] as const],
    ['Redis, then NATS', ['Redis', 'NATS'] as const],
  ])('%s restarted under a running introspector (Redis empty): no revoked token allowed, the same decisions as a fresh introspector', async (_order, [first, second]) => {
    const revoked = await issueMany(200);
    const kept = await issueMany(10);
    await restartServer(first);
    // Every revocation is answered 200 before the second restart; the last ones just before it.
    for (const t of revoked) await revoke(t.jti);
    await restartServer(second);
    await expectDenied(revoked);
    const running = [];
    for (const t of [...revoked, ...kept]) running.push((await decision(t.token)).reason);
    expect(running.filter((reason) => reason !== 'revoked').length).toBe(kept.length);
    expect(running.slice(revoked.length)).toEqual(kept.map(() => null));
    const fresh = await startIntrospector();
    try {
      const fromFresh = [];
      for (const t of [...revoked, ...kept]) fromFresh.push((await decision(t.token, fresh)).reason);
      expect(fromFresh).toEqual(running);
    } finally {
      await fresh.stop();
    }
    // Push resumed on the running introspector: a new revocation arrives over the bus.
    const receipts = await pushReceipts();
    const later = await issue();
    await revoke(later.jti);
    await waitFor(async () => (await pushReceipts()) > receipts, 10_000, 'a revocation received over push');
    await expectDenied([later]);
    await waitFor(async () => (await fetch(`${introspector.url}/readyz`)).status === 200, 10_000, 'ready');
  });

  it('NATS down during revocations: the CRL keeps them denied, retries publish them, nothing is lost', async () => {
    const tokens = await Promise.all(Array.from({ length: 20 }, issue));
    for (const t of tokens) expect((await decision(t.token)).decision).toBe('allow');
    const restartNats = await stopNatsServer();
    const during = Promise.all(tokens.map((t) => revoke(t.jti)));
    await new Promise((r) => setTimeout(r, 800));
    // While NATS is down the broadcaster answered 503 after writing the CRL; the
    // introspector reads the CRL every pull interval and already denies.
    await expectDenied(tokens);
    await restartNats();
    await during;
    await expectDenied(tokens);
    const fresh = await startIntrospector();
    try {
      await expectDenied(tokens, fresh);
    } finally {
      await fresh.stop();
    }
  });

  it('NATS restarted right after revocations: delivery resumes and a new introspector replays them', async () => {
    const tokens = await Promise.all(Array.from({ length: 20 }, issue));
    await Promise.all(tokens.map((t) => revoke(t.jti)));
    const restartNats = await stopNatsServer();
    await restartNats();
    await expectDenied(tokens);
    const later = await issue();
    await revoke(later.jti);
    await expectDenied([later]);
  });

  it('Redis restarted (it keeps nothing): revoked tokens stay denied, also by a restarted introspector', async () => {
    const before = await issue();
    await revoke(before.jti);
    await expectDenied([before]);
    const restartRedis = await stopRedisServer();
    await restartRedis();
    await expectDenied([before]);
    await introspector.stop();
    introspector = await startIntrospector();
    await expectDenied([before]);
    const after = await issue();
    await revoke(after.jti);
    await expectDenied([after]);
  });

  it('introspector restarted while revocations happen: it denies them when it comes back', async () => {
    const tokens = await Promise.all(Array.from({ length: 5 }, issue));
    await introspector.stop();
    for (const t of tokens) await revoke(t.jti);
    introspector = await startIntrospector();
    await expectDenied(tokens);
  });

  it('fails closed when it cannot prove freshness (NATS and Redis both down), and recovers', async () => {
    const token = (await issue()).token;
    expect((await decision(token)).decision).toBe('allow');
    const restartNats = await stopNatsServer();
    const restartRedis = await stopRedisServer();
    await waitFor(async () => (await decision(token)).reason === 'revocation_unavailable', 6000, 'fail-closed deny');
    expect((await fetch(`${introspector.url}/readyz`)).status).toBe(503);
    await restartRedis();
    await restartNats();
    await waitFor(async () => (await decision(token)).decision === 'allow', 10_000, 'recovery');
    expect((await fetch(`${introspector.url}/readyz`)).status).toBe(200);
  });
});
