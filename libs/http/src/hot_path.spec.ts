import type { Server } from 'node:http';
import { CtpError } from '@ctp/ctp-core';
import { generateApiKey, PartnerRegistry } from '@ctp/partners';
import { DEMO_PARTNER } from '@ctp/partners/internal';
import { rawHttp as raw } from '@ctp/testing';
import { registry as metrics } from '@ctp/telemetry/internal';
import { apiRouter, createServiceApp, hotPost } from './app';
import { partnerAuth, partnerOf } from './auth';
import { jsonBody } from './body';
import { close, listen } from './listen';
import { createLogger } from './logger';
import { MemoryRateLimiter } from './rate_limit';
import { sendJson } from './step';

/**
 * A hot route answers `POST /introspect` without express, and the same steps answer any
 * other spelling of the request line (here `?via=express`) through express. Every request
 * below goes both ways: the answers must be the same bytes.
 */
const key = generateApiKey('acme');
const partners = PartnerRegistry.parse({
  partners: [{ id: 'acme', name: 'Acme', api_key_hashes: [key.hash], processors: ['*'], policy_uri: 'https://acme.example/p' }],
});
const limit = { requests: 1_000, periodSeconds: 3_600 };
const tight = { requests: 2, periodSeconds: 3_600 };

const post = (target: string, body: string, headers: string[]) =>
  [`POST ${target} HTTP/1.1`, 'Host: hot', 'Connection: close', ...headers, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
const mask = (answer: string) => answer.replace(/^Date: .*$/m, 'Date: <date>').replace(/^Retry-After: \d+$/m, 'Retry-After: <s>');

describe('hot routes answer exactly as the express route built from the same steps', () => {
  let server: Server;
  let port: number;
  const seen: boolean[] = [];
  const logged: string[] = [];

  beforeAll(async () => {
    const router = apiRouter();
    const rateLimits = { limiter: new MemoryRateLimiter(), defaults: { issue: limit, introspect: limit, revoke: limit } };
    hotPost(router, '/introspect', partnerAuth({ registry: partners, devPartner: DEMO_PARTNER }, rateLimits), jsonBody({ limit: 256, acceptShellMangledJson: true }), async (req, res) => {
      // express gives every request it handles its own prototype, with helpers such as req.get.
      seen.push(typeof (req as { get?: unknown }).get === 'function');
      const body = req.body as Record<string, unknown>;
      if (body.fail === 'ctp') throw new CtpError('validation_failed', 'fail: ctp', { errors: [{ field: 'fail', rule: 'test', message: 'asked to fail' }] });
      if (body.fail === 'unavailable') throw new CtpError('unavailable', 'store down', { cause: new Error('ECONNREFUSED') });
      await new Promise((resolve) => setImmediate(resolve));
      if (body.fail === 'bug') throw new TypeError('a bug');
      res.setHeader('X-Partner', partnerOf(res).id);
      sendJson(res, { echo: body });
    });
    const logger = createLogger('hot', { write: (line: string) => void logged.push(line) });
    logger.level = 'debug';
    server = await listen(createServiceApp({ routers: [router], readiness: {}, logger }), 0, '127.0.0.1');
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => close(server));

  const json = ['Content-Type: application/json'];
  const cases: [string, string, string[]][] = [
    ['allow', '{"token":"t","n":1}', json],
    ['a partner key', '{"n":2}', [...json, `Authorization: Bearer ${key.apiKey}`]],
    ['a bad partner key', '{}', [...json, 'Authorization: Bearer nope']],
    ['not JSON', '{"token":', json],
    ['shell-mangled JSON (dev notice)', '{token:abc}', json],
    ['wrong media type', '{}', ['Content-Type: text/plain']],
    ['charset not UTF-8', '{}', ['Content-Type: application/json; charset=latin1']],
    ['prototype key', '{"__proto__":{"x":1}}', json],
    ['body over the limit', JSON.stringify({ pad: 'x'.repeat(300) }), json],
    ['a CtpError from the handler', '{"fail":"ctp"}', json],
    ['a dependency failure', '{"fail":"unavailable"}', json],
    ['a bug after an await', '{"fail":"bug"}', json],
  ];

  it.each(cases)('%s', async (_name, body, headers) => {
    seen.length = 0;
    const hot = await raw(port, post('/introspect', body, headers));
    const viaExpress = await raw(port, post('/introspect?via=express', body, headers));
    expect(mask(hot)).toBe(mask(viaExpress));
    expect(hot).toMatch(/^HTTP\/1\.1 \d{3} /);
    // The handler ran (or not) once each way; where it ran, first without express, then with it.
    if (seen.length > 0) expect(seen).toEqual([false, true]);
  });

  it('rate limits count both ways alike: 429 with Retry-After', async () => {
    const router = apiRouter();
    const rateLimits = { limiter: new MemoryRateLimiter(), defaults: { issue: tight, introspect: tight, revoke: tight } };
    hotPost(router, '/introspect', partnerAuth({ registry: partners, devPartner: DEMO_PARTNER }, rateLimits), jsonBody(), (_req, res) => sendJson(res, {}));
    const limited = await listen(createServiceApp({ routers: [router], readiness: {}, logger: createLogger('hot') }), 0, '127.0.0.1');
    const at = (limited.address() as { port: number }).port;
    try {
      const answers = [];
      for (const target of ['/introspect', '/introspect?via=express', '/introspect', '/introspect?via=express']) answers.push(await raw(at, post(target, '{}', json)));
      expect(answers.map((a) => a.slice(9, 12))).toEqual(['200', '200', '429', '429']);
      expect(mask(answers[2]!)).toBe(mask(answers[3]!));
      expect(answers[2]).toMatch(/^Retry-After: \d+$/m);
    } finally {
      await close(limited);
    }
  });

  it('counts and logs hot requests under the route template, like express', async () => {
    // prom-client hands out its live series objects: read the number at once.
    const count = async () =>
      (await metrics.getSingleMetric('ctp_http_requests_total')!.get()).values.find((s) => s.labels.route === '/introspect' && s.labels.status === '200' && s.labels.method === 'POST')?.value ?? 0;
    const before = await count();
    logged.length = 0;
    await raw(port, post('/introspect', '{}', json));
    await raw(port, post('/introspect?via=express', '{}', json));
    expect((await count()) - before).toBe(2);
    const lines = logged.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
    expect(lines.map(({ method, route, status, partner }) => ({ method, route, status, partner }))).toEqual([
      { method: 'POST', route: '/introspect', status: 200, partner: 'demo' },
      { method: 'POST', route: '/introspect', status: 200, partner: 'demo' },
    ]);
  });

  it('refuses two routers serving the same hot path', () => {
    const a = apiRouter();
    const b = apiRouter();
    hotPost(a, '/issue', (_req, res) => sendJson(res, {}));
    hotPost(b, '/issue', (_req, res) => sendJson(res, {}));
    expect(() => createServiceApp({ routers: [a, b], readiness: {}, logger: createLogger('hot') })).toThrow('two routers serve POST /issue');
  });
});
