import { CtpError } from '@ctp/ctp-core';
import { apiRouter, createServiceApp } from './app';
import { baseUrl, close, listen, type Server } from './listen';
import { createLogger } from './logger';

describe('security headers (helmet) on every response', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    const logger = createLogger('headers-spec');
    logger.level = 'silent';
    const router = apiRouter();
    router.get('/ok', (_req, res) => {
      res.json({ ok: true });
    });
    router.get('/bad', () => {
      throw new CtpError('validation_failed', 'nope');
    });
    server = await listen(createServiceApp({ logger, readiness: {}, routers: [router] }), 0, '127.0.0.1');
    url = baseUrl(server);
  });
  afterAll(() => close(server));

  it.each([
    ['a success', '/ok', 200],
    ['a 4xx problem', '/bad', 400],
    ['a 404', '/nowhere', 404],
    ['a health check', '/healthz', 200],
  ])('%s', async (_name, path, status) => {
    const res = await fetch(`${url}${path}`);
    expect(res.status).toBe(status);
    const hsts = /^max-age=(\d+); includeSubDomains$/.exec(res.headers.get('strict-transport-security') ?? '');
    expect(Number(hsts?.[1])).toBeGreaterThanOrEqual(31_536_000);
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });
});
