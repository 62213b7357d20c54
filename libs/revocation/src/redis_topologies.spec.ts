import { randomBytes } from 'node:crypto';
import { connectRedis } from '@ctp/http';
import { RedisRateLimiter, redisTarget, type RedisClient } from '@ctp/http/internal';
import { privateRedisCluster, privateRedisSentinels, waitFor, type RedisSentinelSet } from '@ctp/testing';
import { RedisRevocationStore } from './revocation_store';

/**
 * CTP_REDIS_URL's three shapes on real servers: one Redis, a Sentinel-managed primary that fails
 * over (the client follows the new primary), and a Redis Cluster (the revocation list's script
 * touches two keys, which share a hash slot).
 */
describe('CTP_REDIS_URL', () => {
  it('names one server, Sentinels and a primary, or cluster seed nodes', () => {
    expect(redisTarget('redis://:pw@127.0.0.1:6379/2')).toEqual({ kind: 'single', url: 'redis://:pw@127.0.0.1:6379/2' });
    expect(redisTarget('redis+sentinel://:p%40ss@s1:26379,s2,[::1]:26380/ctp-primary/1')).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'ctp-primary',
      password: 'p@ss',
      tls: false,
      db: 1,
    });
    expect(redisTarget('rediss+cluster://ctp:pw@n1:7000,n2:7001')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'n1', port: 7000 },
        { host: 'n2', port: 7001 },
      ],
      username: 'ctp',
      password: 'pw',
      tls: true,
    });
    expect(() => redisTarget('redis+sentinel://:secret@s1:26379')).toThrow(/primary's name/);
    expect(() => redisTarget('http://:secret@x')).toThrow(/must start with/);
    // Never the password in a message.
    expect(() => redisTarget('redis+sentinel://:secret@s1:26379')).not.toThrow(/secret/);
  });
});

const now = () => Math.floor(Date.now() / 1000);
const revocation = (jti: string) => ({ jti, partnerId: 'acme', reason: 'user_revoked', revokedAtMs: Date.now(), expiresAt: now() + 300 });

describe('Redis behind Sentinel', () => {
  let set: RedisSentinelSet;
  let redis: RedisClient;
  beforeAll(async () => {
    set = await privateRedisSentinels({ downAfterMs: 1000 });
    redis = (await connectRedis(set.url))!;
  }, 60_000);
  afterAll(async () => {
    redis?.disconnect();
    await set?.destroy();
  });

  it('keeps the revocation list across a failover of the primary', async () => {
    const store = new RedisRevocationStore(redis, `t:${randomBytes(3).toString('hex')}:`);
    await waitFor(async () => /slave0:[^\n]*state=online/.test(await redis.info('replication')), 20_000, 'the replica to sync');
    expect((await store.record(revocation('before'), now())).created).toBe(true);
    // Acknowledged by the replica before the primary dies (as `min-replicas-to-write` would ensure).
    expect(await redis.call('WAIT', '1', '1000')).toBe(1);
    await set.nodes[0]!.stop('immediate');
    const killedAt = Date.now();
    await waitFor(async () => (await store.record(revocation('after'), now()).then(() => true, () => false)), 30_000, 'a write after the failover');
    const windowMs = Date.now() - killedAt;
    expect((await store.live(now())).map((r) => r.jti).sort()).toEqual(['after', 'before']);
    const [role] = (await redis.call('ROLE')) as [string];
    expect(role).toBe('master');
    expect(windowMs).toBeLessThan(30_000);
  }, 60_000);
});

describe('Redis Cluster', () => {
  let cluster: Awaited<ReturnType<typeof privateRedisCluster>>;
  let redis: RedisClient;
  beforeAll(async () => {
    cluster = await privateRedisCluster(3);
    redis = (await connectRedis(cluster.url))!;
  }, 60_000);
  afterAll(async () => {
    redis?.disconnect();
    await cluster?.destroy();
  });

  it('runs the revocation list (a two-key script) and the rate limits', async () => {
    const store = new RedisRevocationStore(redis, 'ctp:');
    for (const jti of ['a', 'b', 'c', 'd']) expect((await store.record(revocation(jti), now())).created).toBe(true);
    expect((await store.record(revocation('a'), now())).created).toBe(false);
    await store.markPublished(revocation('b'), 7);
    expect((await store.record(revocation('b'), now())).entry.seq).toBe(7);
    expect((await store.live(now())).map((r) => r.jti).sort()).toEqual(['a', 'b', 'c', 'd']);

    const limiter = new RedisRateLimiter(redis, { prefix: 'ctp:' });
    const limit = { requests: 2, periodSeconds: 60 };
    const results = [];
    for (let i = 0; i < 3; i++) results.push((await limiter.take('acme:issue', limit)).allowed);
    expect(results).toEqual([true, true, false]);
    // Decided in the cluster, not by the in-process fallback.
    expect(await redis.exists('ctp:rl:acme:issue')).toBe(1);
  }, 30_000);
});
