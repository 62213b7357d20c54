import { Redis } from 'ioredis';
import { clockOffset } from '@ctp/telemetry';
import { REDIS_URL } from '@ctp/testing';
import { clockCheck, measureClockOffset } from './clock';

describe('clock readiness against Redis TIME', () => {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000, commandTimeout: 2_000, lazyConnect: true });
  redis.on('error', () => undefined);
  const redisTime = async () => {
    const [seconds, micros] = await redis.time();
    return Number(seconds) + Number(micros) / 1e6;
  };
  beforeAll(() => redis.connect());
  afterAll(() => redis.disconnect());

  it('measures a near-zero offset for this host', async () => {
    const sample = await measureClockOffset(redisTime);
    expect(Math.abs(sample.offsetSeconds)).toBeLessThan(2);
    expect(sample.rttMs).toBeGreaterThanOrEqual(0);
  });

  it('is ready within 30 s of skew and not ready beyond it, either way, and exports the offset', async () => {
    const skewed = (seconds: number) => clockCheck({ peerTime: redisTime, now: () => Date.now() + seconds * 1000 });
    expect(await skewed(0)()).toBe(true);
    expect(await skewed(20)()).toBe(true);
    expect(await skewed(-20)()).toBe(true);
    expect(await skewed(45)()).toBe(false);
    expect((await clockOffset.get()).values[0]!.value).toBeCloseTo(-45, 0);
    expect(await skewed(-45)()).toBe(false);
    expect((await clockOffset.get()).values[0]!.value).toBeCloseTo(45, 0);
  });

  it('caches the verdict, so a burst of /readyz calls costs one TIME', async () => {
    let calls = 0;
    const check = clockCheck({ peerTime: () => (calls++, redisTime()), now: () => Date.now() - 60_000, cacheMs: 60_000 });
    const verdicts = await Promise.all([check(), check(), check()]);
    expect(verdicts).toEqual([false, false, false]);
    expect(await check()).toBe(false);
    expect(calls).toBe(1);
  });

  it('keeps the last verdict when the peer cannot be read', async () => {
    let fail = false;
    const errors: unknown[] = [];
    const check = clockCheck({
      peerTime: () => (fail ? Promise.reject(new Error('down')) : redisTime()),
      now: () => Date.now() + 90_000,
      cacheMs: 0,
      onError: (e) => errors.push(e),
    });
    expect(await check()).toBe(false);
    fail = true;
    expect(await check()).toBe(false);
    expect(errors).toHaveLength(1);
  });
});
