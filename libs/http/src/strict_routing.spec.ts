import { Router } from 'express';
import { generateApiKey, PartnerRegistry } from '@ctp/partners';
import { allNotFound, spellingStatuses } from '@ctp/testing';
import { apiRouter, createServiceApp } from './app';
import { partnerAuth } from './auth';
import { baseUrl, close, listen, type Server } from './listen';
import { createLogger } from './logger';
import { MemoryRateLimiter } from './rate_limit';

const logger = createLogger('strict-routing-spec');
logger.level = 'silent';
const acme = generateApiKey('acme');
const registry = PartnerRegistry.parse({ partners: [{ id: 'acme', name: 'Acme', api_key_hashes: [acme.hash], processors: ['*'], policy_uri: 'https://acme.example/p' }] });
const once = { requests: 1, periodSeconds: 60 };

describe('routing is strict and case-sensitive', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    const router = apiRouter();
    const auth = partnerAuth({ registry }, { limiter: new MemoryRateLimiter(), defaults: { issue: once, introspect: once, revoke: once } });
    for (const path of ['/issue', '/introspect', '/revoke']) router.post(path, auth, (_req, res) => void res.json({ ok: true }));
    server = await listen(createServiceApp({ logger, readiness: {}, routers: [router] }), 0, '127.0.0.1');
    url = baseUrl(server);
  });
  afterAll(() => close(server));

  it.each(['/issue', '/introspect', '/revoke'])('answers 404 to every other spelling of %s: none gets past the rate limit or the credential check', async (path) => {
    const auth = { authorization: `Bearer ${acme.apiKey}` };
    const post = () => fetch(`${url}${path}`, { method: 'POST', headers: auth });
    expect((await post()).status).toBe(200);
    expect((await post()).status).toBe(429);
    expect(await spellingStatuses(url, 'POST', path, auth)).toEqual(allNotFound(path));
    expect(await spellingStatuses(url, 'POST', path)).toEqual(allNotFound(path));
  });

  it('refuses a router that would match other spellings', () => {
    expect(() => createServiceApp({ logger, readiness: {}, routers: [Router()] })).toThrow(/apiRouter/);
  });
});
