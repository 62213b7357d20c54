import type { Server } from 'node:http';
import { request } from 'node:http';
import { registry } from '@ctp/telemetry/internal';
import { createLogger } from './logger';
import { apiRouter, createServiceApp } from './app';
import { jsonBody, DEV_NOTICE_HEADER, MAX_BODY_BYTES } from './body';
import { baseUrl, close, listen } from './listen';

function echoServer(options: Parameters<typeof jsonBody>[0]) {
  const router = apiRouter();
  router.post('/echo', jsonBody(options), (req, res) => {
    res.json({ body: req.body, proto: Object.getPrototypeOf(req.body) === Object.prototype });
  });
  return createServiceApp({ routers: [router], readiness: {}, logger: createLogger('test') });
}

async function post(url: string, body: string | Buffer, contentType = 'application/json') {
  const res = await fetch(`${url}/echo`, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: res.status, type: res.headers.get('content-type'), headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

describe('jsonBody', () => {
  let server: Server;
  let url: string;
  let lenient: Server;
  let lenientUrl: string;
  beforeAll(async () => {
    server = await listen(echoServer({}), 0, '127.0.0.1');
    url = baseUrl(server);
    lenient = await listen(echoServer({ acceptShellMangledJson: true }), 0, '127.0.0.1');
    lenientUrl = baseUrl(lenient);
  });
  afterAll(async () => {
    await close(server);
    await close(lenient);
  });

  it('parses JSON objects', async () => {
    const r = await post(url, '{"a":[1,2]}');
    expect(r).toMatchObject({ status: 200, body: { body: { a: [1, 2] } } });
  });

  it.each([
    ['malformed JSON', '{"a":', 'application/json', 400, 'invalid_json'],
    ['a non-JSON media type', '{}', 'text/plain', 415, 'unsupported_media_type'],
    ['a non-UTF-8 charset', '{}', 'application/json; charset=latin1', 415, 'unsupported_media_type'],
    ['non-UTF-8 bytes', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'application/json', 400, 'invalid_encoding'],
    ['a body over 16 KiB', JSON.stringify({ a: 'x'.repeat(MAX_BODY_BYTES) }), 'application/json', 413, 'body_too_large'],
  ])('answers %s with a problem', async (_name, body, contentType, status, code) => {
    const r = await post(url, body, contentType);
    expect(r.status).toBe(status);
    expect(r.type).toMatch(/^application\/problem\+json/);
    expect(r.body).toMatchObject({ status, code, type: `urn:ctp:problem:${code}` });
  });

  it('refuses prototype-shaped keys anywhere, naming the key', async () => {
    for (const body of ['{"__proto__":{"admin":true}}', '{"a":{"constructor":{"prototype":1}}}']) {
      const r = await post(url, body);
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ code: 'validation_failed', errors: [expect.objectContaining({ rule: 'forbidden_key' })] });
    }
    expect((await post(url, '{"text":"a constructor of prototypes"}')).status).toBe(200);
  });

  it('stops reading a chunked body at the limit', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('{"a":"');
      for (let i = 0; i < 20; i++) req.write('x'.repeat(1024));
      req.end('"}');
    });
    expect(status).toBe(413);
  });

  it('accepts shell-mangled JSON only where enabled, and says so', async () => {
    const mangled = '{\n  token: eyJ.a.b,\n  context_envelope: {\n    ts:2025-11-09T20:17:00Z,\n    features:[tone,sentiment],\n    processor:svc://cx-ai/v1\n  }\n}';
    expect((await post(url, mangled)).status).toBe(400);
    const r = await post(lenientUrl, mangled);
    expect(r.status).toBe(200);
    expect(r.headers.get(DEV_NOTICE_HEADER)).toMatch(/dev mode/);
    expect(r.body.body).toEqual({
      token: 'eyJ.a.b',
      context_envelope: { ts: '2025-11-09T20:17:00Z', features: ['tone', 'sentiment'], processor: 'svc://cx-ai/v1' },
    });
  });

  it('counts requests by route template, never by raw path', async () => {
    await post(url, '{}');
    await fetch(`${url}/secret-looking/path/123`);
    const text = await registry.metrics();
    expect(text).toMatch(/ctp_http_requests_total\{route="\/echo",method="POST",status="200"\} \d+/);
    expect(text).toMatch(/ctp_http_requests_total\{route="unmatched",method="GET",status="404"\}/);
    expect(text).not.toContain('secret-looking');
  });

  it('answers unknown paths and wrong methods with problems, and serves health', async () => {
    const missing = await fetch(`${url}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/problem\+json/);
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: 'ready', checks: {} });
  });
});
