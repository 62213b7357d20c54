import { Redis } from 'ioredis';
import { REDIS_URL } from '@ctp/testing';
import { MemoryNonceStore, newNonce, NONCE_PATTERN, RedisNonceStore, type NonceStore } from './nonce_store';

async function singleUse(store: NonceStore): Promise<void> {
  const nonce = newNonce();
  expect(nonce).toMatch(NONCE_PATTERN);
  await store.issue(nonce, 1_700_000_000_123, 10_000);
  await expect(store.issue(nonce, 1, 10_000)).rejects.toThrow(/collision/);
  const results = await Promise.all(Array.from({ length: 20 }, () => store.consume(nonce)));
  expect(results.filter((r) => r !== null)).toEqual([1_700_000_000_123]);
  await expect(store.consume(newNonce())).resolves.toBeNull();
}

describe('nonce stores', () => {
  it('memory: single use, one winner among concurrent consumers, expired nonces refused, bounded', async () => {
    let now = 1000;
    const store = new MemoryNonceStore(3, () => now);
    await singleUse(store);
    await store.issue('a', now, 100);
    now += 100;
    await expect(store.consume('a')).resolves.toBeNull();
    for (const n of ['b', 'c', 'd', 'e']) await store.issue(n, now, 1000);
    expect(store.size).toBe(3);
    await expect(store.consume('b')).resolves.toBeNull();
    await expect(store.consume('e')).resolves.toBe(now);
  });

  describe('redis', () => {
    let redis: Redis;
    beforeAll(() => {
      redis = new Redis(REDIS_URL);
    });
    afterAll(() => redis.disconnect());

    it('single use (GETDEL): exactly one of many concurrent consumers gets the nonce', async () => {
      await singleUse(new RedisNonceStore(redis, `test:guard:${process.pid}:`));
    });

    it('forgets a nonce after its TTL', async () => {
      const store = new RedisNonceStore(redis, `test:guard:${process.pid}:`);
      const nonce = newNonce();
      await store.issue(nonce, Date.now(), 50);
      expect(await redis.pttl(`test:guard:${process.pid}:${nonce}`)).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 120));
      await expect(store.consume(nonce)).resolves.toBeNull();
    });
  });
});
