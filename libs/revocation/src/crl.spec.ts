import { randomBytes } from 'node:crypto';
import { REDIS_URL } from '@ctp/testing';
import { MemoryCrl, openCrl, RedisCrl, type CrlStore } from './crl';

describe.each([
  ['in-process', async () => new MemoryCrl() as CrlStore],
  ['Redis', () => openCrl(REDIS_URL, `test:${randomBytes(4).toString('hex')}:`)],
])('%s CRL', (_name, make) => {
  let crl: CrlStore;
  beforeAll(async () => {
    crl = await make();
  });
  afterAll(() => crl.close());
  const now = Math.floor(Date.now() / 1000);
  const entry = (jti: string, expiresAt = now + 200) => ({ jti, partnerId: 'acme', reason: 'user_revoked', revokedAtMs: now * 1000, expiresAt });

  it('records a jti once and returns the stored entry afterwards', async () => {
    expect(await crl.record(entry('a'), now)).toEqual({ entry: entry('a'), created: true });
    const again = await crl.record({ ...entry('a'), reason: 'other' }, now);
    expect(again).toEqual({ entry: entry('a'), created: false });
    await crl.markPublished(again.entry, 42);
    expect((await crl.record(entry('a'), now)).entry.seq).toBe(42);
  });

  it('lists live revocations with their times and drops expired ones', async () => {
    await crl.record(entry('live'), now);
    await crl.record(entry('dead', now - 3600), now - 3700);
    const live = await crl.live(now);
    expect(live).toEqual(expect.arrayContaining([{ jti: 'live', expiresAt: now + 200, revokedAtMs: now * 1000 }]));
    expect(live.map((l) => l.jti)).not.toContain('dead');
  });

  it('records token owners', async () => {
    await crl.setOwner('t1', { partnerId: 'acme', expiresAt: now + 240 }, now);
    expect(await crl.owner('t1')).toEqual({ partnerId: 'acme', expiresAt: now + 240 });
    expect(await crl.owner('t2')).toBeNull();
    expect(Math.abs((await crl.time()) - Date.now() / 1000)).toBeLessThan(5);
  });
});

describe('RedisCrl', () => {
  it('names the server when it is not reachable', async () => {
    await expect(openCrl('redis://127.0.0.1:1')).rejects.toThrow(/Redis is not reachable at 127.0.0.1:1/);
  });

  it('sets TTL = remaining token life + skew', async () => {
    const crl = new RedisCrl({ url: REDIS_URL, prefix: `test:${randomBytes(4).toString('hex')}:` });
    await crl.ready();
    const now = Math.floor(Date.now() / 1000);
    await crl.record({ jti: 'x', partnerId: 'p', reason: 'r', revokedAtMs: now * 1000, expiresAt: now + 100 }, now);
    const ttl = await crl.redis.ttl(`${(crl as unknown as { prefix: string }).prefix}crl:x`);
    expect(ttl).toBeGreaterThan(150);
    expect(ttl).toBeLessThanOrEqual(160);
    await crl.close();
  });
});
