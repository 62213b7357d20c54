import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { RateLimit, RateLimitedEndpoint } from '@ctp/config';
import { generateApiKey, PartnerRegistry } from '@ctp/partners';
import { rateLimitFallbacks, rateLimited } from '@ctp/telemetry';
import { registry } from '@ctp/telemetry/internal';
import { REDIS_URL } from '@ctp/testing';
import { apiRouter, createServiceApp } from './app';
import { partnerAuth } from './auth';
import { baseUrl, close, listen, type Server } from './listen';
import { createLogger } from './logger';
import { MemoryRateLimiter, RedisRateLimiter, type PartnerRateLimits, type RateLimiter } from './rate_limit';

const logger = createLogger('rate-limit-spec');
logger.level = 'silent';

const acme = generateApiKey('acme');
const globex = generateApiKey('globex');
const tight = generateApiKey('tight');
const partners = PartnerRegistry.parse({
  partners: [
    { id: 'acme', name: 'Acme', api_key_hashes: [acme.hash], processors: ['*'], policy_uri: 'https://acme.example/p' },
    { id: 'globex', name: 'Globex', api_key_hashes: [globex.hash], processors: ['*'], policy_uri: 'https://globex.example/p' },
    { id: 'tight', name: 'Tight', api_key_hashes: [tight.hash], processors: ['*'], policy_uri: 'https://tight.example/p', rate_limits: { issue: '1/60s' } },
  ],
});

const defaults: Record<RateLimitedEndpoint, RateLimit> = {
  issue: { requests: 3, periodSeconds: 60 },
  introspect: { requests: 1, periodSeconds: 1 },
  revoke: { requests: 1000, periodSeconds: 1 },
};

function newRedis(url = REDIS_URL): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000, commandTimeout: 2_000, lazyConnect: true });
  redis.on('error', () => undefined);
  return redis;
}

async function startReplica(limiter: RateLimiter): Promise<{ server: Server; url: string }> {
  const limits: PartnerRateLimits = { limiter, defaults };
  const router = apiRouter();
  for (const path of ['/issue', '/introspect', '/revoke']) {
    router.post(path, partnerAuth({ registry: partners }, limits), (_req, res) => {
      res.json({ ok: true });
    });
  }
  router.get('/revocations', partnerAuth({ registry: partners }, limits), (_req, res) => {
    res.json({ ok: true });
  });
  const server = await listen(createServiceApp({ logger, readiness: {}, routers: [router] }), 0, '127.0.0.1');
  return { server, url: baseUrl(server) };
}

const call = (url: string, apiKey: string, method = 'POST') => fetch(url, { method, headers: { authorization: `Bearer ${apiKey}` } });

describe('per-partner rate limits in Redis, shared by replicas', () => {
  const prefix = `ctp-test:${randomUUID()}:`;
  const clients: Redis[] = [];
  let a: { server: Server; url: string };
  let b: { server: Server; url: string };
  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const redis = newRedis();
      await redis.connect();
      clients.push(redis);
    }
    a = await startReplica(new RedisRateLimiter(clients[0]!, { prefix }));
    b = await startReplica(new RedisRateLimiter(clients[1]!, { prefix }));
  });
  afterAll(async () => {
    await close(a.server);
    await close(b.server);
    const keys = await clients[0]!.keys(`${prefix}*`);
    if (keys.length > 0) await clients[0]!.del(...keys);
    for (const redis of clients) redis.disconnect();
  });

  it('counts calls on both replicas against one limit, answering 429 with Retry-After and a problem', async () => {
    const refusedBefore = (await rateLimited.get()).values.find((v) => v.labels.partner === 'acme' && v.labels.endpoint === 'issue')?.value ?? 0;
    expect((await call(`${a.url}/issue`, acme.apiKey)).status).toBe(200);
    expect((await call(`${b.url}/issue`, acme.apiKey)).status).toBe(200);
    expect((await call(`${a.url}/issue`, acme.apiKey)).status).toBe(200);
    const refused = await call(`${b.url}/issue`, acme.apiKey);
    expect(refused.status).toBe(429);
    // 3 per 60 s: the next call is allowed 20 s after the burst started.
    const retryAfter = refused.headers.get('retry-after');
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(15);
    expect(Number(retryAfter)).toBeLessThanOrEqual(20);
    expect(refused.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    const text = await refused.text();
    expect(JSON.parse(text)).toMatchObject({ status: 429, code: 'rate_limited', type: 'urn:ctp:problem:rate_limited' });
    expect(text).not.toContain(acme.apiKey.split('.')[1]!);
    expect(text).not.toContain(acme.hash);
    expect(refused.headers.get('strict-transport-security')).not.toBeNull();
    const refusedAfter = (await rateLimited.get()).values.find((v) => v.labels.partner === 'acme' && v.labels.endpoint === 'issue')!.value;
    expect(refusedAfter).toBe(refusedBefore + 1);
    expect(await registry.metrics()).toContain('ctp_rate_limited_total{endpoint="issue",partner="acme"}');
  });

  it('keeps partners and endpoint classes apart, and does not limit other routes', async () => {
    for (let i = 0; i < 3; i++) expect((await call(`${a.url}/issue`, globex.apiKey)).status).toBe(200);
    expect((await call(`${a.url}/issue`, globex.apiKey)).status).toBe(429);
    expect((await call(`${b.url}/revoke`, globex.apiKey)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await call(`${b.url}/revocations`, globex.apiKey, 'GET')).status).toBe(200);
  });

  it('applies a partner override from the partners file', async () => {
    expect((await call(`${a.url}/issue`, tight.apiKey)).status).toBe(200);
    const refused = await call(`${b.url}/issue`, tight.apiKey);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(55);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/at most 1 times per 60 s/);
  });

  it('allows the call again once Retry-After has passed', async () => {
    expect((await call(`${a.url}/introspect`, acme.apiKey)).status).toBe(200);
    const refused = await call(`${b.url}/introspect`, acme.apiKey);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await call(`${b.url}/introspect`, acme.apiKey)).status).toBe(200);
  });

  it('stores one expiring key per partner and endpoint', async () => {
    const ttl = await clients[0]!.pttl(`${prefix}rl:issue:acme`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_001);
  });
});

describe('when Redis fails', () => {
  it('falls back to per-replica limits with the same semantics and counts the fallback', async () => {
    const dead = newRedis('redis://127.0.0.1:1');
    const errors: unknown[] = [];
    try {
      const limiter = new RedisRateLimiter(dead, { prefix: 'unused:', onStoreError: (e) => errors.push(e) });
      const before = (await rateLimitFallbacks.get()).values[0]?.value ?? 0;
      const limit = { requests: 2, periodSeconds: 60 };
      expect((await limiter.take('issue:x', limit)).allowed).toBe(true);
      expect((await limiter.take('issue:x', limit)).allowed).toBe(true);
      const third = await limiter.take('issue:x', limit);
      expect(third.allowed).toBe(false);
      expect(third.retryAfterMs).toBeGreaterThan(25_000);
      expect(errors).toHaveLength(3);
      expect((await rateLimitFallbacks.get()).values[0]!.value).toBe(before + 3);
    } finally {
      dead.disconnect();
    }
  });
});

describe('MemoryRateLimiter (ctp up without Redis)', () => {
  it('follows the same GCRA: bursts up to the limit, then one call per interval', async () => {
    let now = 1_000_000_000;
    const limiter = new MemoryRateLimiter(() => now);
    const limit = { requests: 2, periodSeconds: 10 };
    expect(await limiter.take('k', limit)).toEqual({ allowed: true, retryAfterMs: 0 });
    expect(await limiter.take('k', limit)).toEqual({ allowed: true, retryAfterMs: 0 });
    expect(await limiter.take('k', limit)).toEqual({ allowed: false, retryAfterMs: 5_000 });
    expect(await limiter.take('other', limit)).toEqual({ allowed: true, retryAfterMs: 0 });
    now += 4_999_000;
    expect(await limiter.take('k', limit)).toEqual({ allowed: false, retryAfterMs: 1 });
    now += 1_000;
    expect(await limiter.take('k', limit)).toEqual({ allowed: true, retryAfterMs: 0 });
    expect((await limiter.take('k', limit)).allowed).toBe(false);
    now += 60_000_000;
    expect((await limiter.take('k', limit)).allowed).toBe(true);
    expect((await limiter.take('k', limit)).allowed).toBe(true);
    expect((await limiter.take('k', limit)).allowed).toBe(false);
  });

  it('answers 429 with Retry-After in an app without Redis', async () => {
    const replica = await startReplica(new MemoryRateLimiter());
    try {
      expect((await call(`${replica.url}/introspect`, globex.apiKey)).status).toBe(200);
      const refused = await call(`${replica.url}/introspect`, globex.apiKey);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('1');
    } finally {
      await close(replica.server);
    }
  });
});
