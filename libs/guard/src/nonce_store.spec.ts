import { Redis } from 'ioredis';
import { REDIS_URL } from '@ctp/testing';
import { ChallengeNonces, MemoryNonceStore, NONCE_PATTERN, RedisNonceStore, type NonceStore } from './nonce_store';

const SECRET = Buffer.alloc(32, 7);

/** One winner among concurrent redeemers of one nonce; a nonce never minted (or altered) is refused. */
async function singleUse(store: NonceStore): Promise<void> {
  const nonces = new ChallengeNonces(store, SECRET);
  const nonce = nonces.mint(Date.now() - 5);
  expect(nonce).toMatch(NONCE_PATTERN);
  const results = await Promise.all(Array.from({ length: 20 }, () => nonces.redeem(nonce, 10_000)));
  expect(results.filter((r) => r !== null)).toHaveLength(1);
  const altered = `${nonce.slice(0, 20)}${nonce[20] === 'A' ? 'B' : 'A'}${nonce.slice(21)}`;
  await expect(nonces.redeem(altered, 10_000)).resolves.toBeNull();
}

describe('challenge nonces', () => {
  it('carry their issue time under the secret: another secret, an expired or future nonce, or a malformed one is refused', async () => {
    let now = 1_700_000_000_000;
    const store = new MemoryNonceStore(10, () => now);
    const nonces = new ChallengeNonces(store, SECRET, () => now);
    const nonce = nonces.mint();
    await expect(new ChallengeNonces(new MemoryNonceStore(), Buffer.alloc(32, 8), () => now).redeem(nonce, 30_000)).resolves.toBeNull();
    await expect(nonces.redeem(nonces.mint(now + 1000), 30_000)).resolves.toBeNull();
    for (const bad of ['', 'x', `${nonce}A`, nonce.slice(1), '!'.repeat(43)]) await expect(nonces.redeem(bad, 30_000)).resolves.toBeNull();
    now += 29_999;
    await expect(nonces.redeem(nonce, 30_000)).resolves.toBe(1_700_000_000_000);
    const late = nonces.mint(now - 30_000);
    await expect(nonces.redeem(late, 30_000)).resolves.toBeNull();
    // Nothing was stored but the one nonce redeemed.
    expect(store.size).toBe(1);
    expect(() => new ChallengeNonces(store, Buffer.alloc(16))).toThrow(/32 bytes/);
  });

  it('memory: single use; a claimed nonce is never forgotten before it expires (a full store refuses instead)', async () => {
    await singleUse(new MemoryNonceStore());
    let now = 1000;
    const store = new MemoryNonceStore(3, () => now);
    for (const n of ['a', 'b', 'c']) await expect(store.claim(n, 1000)).resolves.toBe(true);
    await expect(store.claim('d', 1000)).resolves.toBe(false);
    await expect(store.claim('a', 1000)).resolves.toBe(false);
    now += 1000;
    await expect(store.claim('d', 1000)).resolves.toBe(true);
    expect(store.size).toBe(1);
  });

  describe('redis', () => {
    let redis: Redis;
    beforeAll(() => {
      redis = new Redis(REDIS_URL);
    });
    afterAll(() => redis.disconnect());

    it('single use (SET NX): exactly one of many concurrent redeemers gets the nonce', async () => {
      await singleUse(new RedisNonceStore(redis, `test:guard:${process.pid}:`));
    });

    it('forgets a claimed nonce once its lifetime is over', async () => {
      const store = new RedisNonceStore(redis, `test:guard:${process.pid}:`);
      // A lifetime far above what three round trips take on a loaded CI machine (50 ms ran out
      // between the claim and the refused second claim there), and a wait past it.
      await expect(store.claim('n1', 1_000)).resolves.toBe(true);
      expect(await redis.pttl(`test:guard:${process.pid}:n1`)).toBeGreaterThan(0);
      await expect(store.claim('n1', 1_000)).resolves.toBe(false);
      await new Promise((r) => setTimeout(r, 1_200));
      await expect(store.claim('n1', 1_000)).resolves.toBe(true);
    });
  });
});
