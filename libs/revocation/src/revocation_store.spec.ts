import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { connectRedis } from '@ctp/http';
import { REDIS_URL } from '@ctp/testing';
import { MemoryRevocationStore, RedisRevocationStore, type RevocationStore } from './revocation_store';

describe.each([
  ['in-process', async () => ({ store: new MemoryRevocationStore() as RevocationStore, redis: undefined })],
  [
    'Redis',
    async () => {
      const redis = await connectRedis(REDIS_URL);
      return { store: new RedisRevocationStore(redis!, `test:${randomBytes(4).toString('hex')}:`) as RevocationStore, redis };
    },
  ],
])('%s revocation list', (_name, make) => {
  let store: RevocationStore;
  let redis: Redis | Cluster | undefined;
  beforeAll(async () => {
    ({ store, redis } = await make());
  });
  afterAll(() => redis?.disconnect());
  const now = Math.floor(Date.now() / 1000);
  const entry = (jti: string, expiresAt = now + 200) => ({ jti, partnerId: 'acme', reason: 'user_revoked', revokedAtMs: now * 1000, expiresAt });

  it('records a jti once and returns the stored entry afterwards', async () => {
    expect(await store.record(entry('a'), now)).toEqual({ entry: entry('a'), created: true });
    const again = await store.record({ ...entry('a'), reason: 'other' }, now);
    expect(again).toEqual({ entry: entry('a'), created: false });
    await store.markPublished(again.entry, 42);
    expect((await store.record(entry('a'), now)).entry.seq).toBe(42);
  });

  it('lists live revocations with their times and drops expired ones', async () => {
    await store.record(entry('live'), now);
    await store.record(entry('dead', now - 3600), now - 3700);
    const live = await store.live(now);
    expect(live).toEqual(expect.arrayContaining([{ jti: 'live', expiresAt: now + 200, revokedAtMs: now * 1000 }]));
    expect(live.map((l) => l.jti)).not.toContain('dead');
  });
});

describe('RedisRevocationStore', () => {
  it('sets TTL = remaining token life + skew', async () => {
    const redis = (await connectRedis(REDIS_URL))!;
    const prefix = `test:${randomBytes(4).toString('hex')}:`;
    const now = Math.floor(Date.now() / 1000);
    await new RedisRevocationStore(redis, prefix).record({ jti: 'x', partnerId: 'p', reason: 'r', revokedAtMs: now * 1000, expiresAt: now + 100 }, now);
    const ttl = await redis.ttl(`${prefix}{crl}:x`);
    expect(ttl).toBeGreaterThan(150);
    expect(ttl).toBeLessThanOrEqual(160);
    redis.disconnect();
  });
});
