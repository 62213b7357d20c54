import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsBus } from '@ctp/bus';
import { generateApiKey } from '@ctp/partners';
import { TOKEN_OWNER_STREAM_SPEC } from '@ctp/events';
import { TokenOwnerRegistry } from '@ctp/revocation';
import { NATS_URL, postJson, privateRedis, startService, tsEntry, waitFor, type PrivateServer, type ServiceProcess } from '@ctp/testing';

/**
 * The broadcaster as its own process, on real NATS and on a private Redis that the test
 * restarts empty (as a Redis without persistence does): who owns a token, and whether a
 * revocation was already published, must not be lost with it.
 */
describe('revocation-broadcaster across a Redis restart', () => {
  const run = randomBytes(3).toString('hex');
  const acme = { id: `acme-${run}`, ...generateApiKey(`acme-${run}`) };
  const globex = { id: `globex-${run}`, ...generateApiKey(`globex-${run}`) };
  let redis: PrivateServer;
  let broadcaster: ServiceProcess;
  let bus: NatsBus;
  let owners: TokenOwnerRegistry;

  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ctp-owners-')), 'partners.json');
    writeFileSync(
      file,
      JSON.stringify({ partners: [acme, globex].map((p) => ({ id: p.id, name: p.id, api_key_hashes: [p.hash], processors: ['*'], policy_uri: 'https://p.example/policy' })) }),
    );
    redis = await privateRedis();
    broadcaster = await startService(tsEntry('apps/revocation-broadcaster/src/main.ts'), {
      CTP_PARTNERS_FILE: file,
      CTP_NATS_URL: NATS_URL,
      CTP_REDIS_URL: redis.url,
      CTP_REDIS_PREFIX: `owners:${run}:`,
    });
    bus = await NatsBus.connect({ servers: NATS_URL, name: 'ownership-spec' });
    await bus.ensureStreams([TOKEN_OWNER_STREAM_SPEC]);
    owners = new TokenOwnerRegistry(bus);
  });
  afterAll(async () => {
    await broadcaster?.stop();
    await bus?.close();
    await redis?.destroy();
  });

  const auth = (p: { apiKey: string }) => ({ authorization: `Bearer ${p.apiKey}` });
  const revoke = (p: { apiKey: string }, jti: string) => postJson(`${broadcaster.url}/revoke`, { jti, reason: 'user_revoked' }, auth(p));
  /** Revokes once the broadcaster's Redis connection is back (503 until then). */
  const revokeWhenUp = async (p: { apiKey: string }, jti: string) => {
    let last = 0;
    await waitFor(async () => (last = (await revoke(p, jti)).status) !== 503, 10_000, 'Redis to be back');
    return last;
  };
  /** The partner's whole feed, page after page (a page scans a window of the shared stream, and may hold none of theirs). */
  const feed = async (p: { apiKey: string }) => {
    const jtis: string[] = [];
    for (let since = '0'; ; ) {
      const page = (await (await fetch(`${broadcaster.url}/revocations?since=${since}&limit=1000`, { headers: auth(p) })).json()) as { revocations: { jti: string }[]; next_cursor: string; has_more: boolean };
      jtis.push(...page.revocations.map((r) => r.jti));
      if (!page.has_more) return jtis;
      since = page.next_cursor;
    }
  };

  it('refuses another partner the revocation of a live token after Redis restarted empty, and keeps it out of their feed', async () => {
    const jti = randomUUID();
    await owners.setOwner(jti, { partnerId: acme.id, expiresAt: Math.floor(Date.now() / 1000) + 240 });
    await redis.restart();
    // Ownership comes from the bus, so the refusal does not even wait for Redis to be back.
    expect((await revoke(globex, jti)).body).toMatchObject({ status: 403, code: 'not_token_owner' });
    expect(await revokeWhenUp(acme, jti)).toBe(200);
    expect((await revoke(globex, jti)).status).toBe(403);
    expect(await feed(globex)).not.toContain(jti);
    expect(await feed(acme)).toContain(jti);
  });

  it('publishes a revocation repeated after Redis restarted empty only once', async () => {
    const jti = randomUUID();
    await owners.setOwner(jti, { partnerId: acme.id, expiresAt: Math.floor(Date.now() / 1000) + 240 });
    expect((await revoke(acme, jti)).status).toBe(200);
    await redis.restart();
    expect(await revokeWhenUp(acme, jti)).toBe(200);
    expect((await feed(acme)).filter((j) => j === jti)).toHaveLength(1);
  });
});
