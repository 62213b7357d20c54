import { request } from 'node:https';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type SecureVersion } from 'node:tls';
import { makeTestCertificate, type TestCertificate } from '@ctp/testing';
import { apiRouter, createServiceApp } from './app';
import { jsonBody } from './body';
import { baseUrl, close, listen, loadTls, type Server } from './listen';
import { createLogger } from './logger';

const logger = createLogger('listen-spec');
logger.level = 'silent';

function app() {
  const router = apiRouter();
  router.get('/hello', (_req, res) => {
    res.json({ hello: 'world' });
  });
  router.post('/echo', jsonBody(), (req, res) => {
    res.json(req.body);
  });
  return createServiceApp({ logger, readiness: {}, routers: [router] });
}

/** Handshake outcome of a client that is willing to speak exactly [min, max]. */
function handshake(port: number, cert: string, min: SecureVersion, max: SecureVersion, ciphers = 'DEFAULT:@SECLEVEL=0'): Promise<{ ok: true; protocol: string | null } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: cert,
      servername: 'localhost',
      minVersion: min,
      maxVersion: max,
      // Let the client offer legacy versions at all (OpenSSL's default security level
      // forbids them client-side); any refusal must then come from the server.
      ciphers,
      timeout: 5_000,
    });
    socket.once('secureConnect', () => {
      const protocol = socket.getProtocol();
      socket.destroy();
      resolve({ ok: true, protocol });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve({ ok: false, error: `${error.code ?? ''} ${error.message}` }));
    socket.once('timeout', () => (socket.destroy(), resolve({ ok: false, error: 'timeout' })));
  });
}

describe('TLS termination', () => {
  let certificate: TestCertificate;
  let server: Server;
  let port: number;
  beforeAll(async () => {
    certificate = makeTestCertificate();
    server = await listen(app(), 0, '127.0.0.1', { tls: loadTls({ certFile: certificate.certFile, keyFile: certificate.keyFile }) });
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => close(server));

  it('negotiates TLS 1.3 when offered, and accepts TLS 1.2', async () => {
    expect(await handshake(port, certificate.cert, 'TLSv1.2', 'TLSv1.3')).toEqual({ ok: true, protocol: 'TLSv1.3' });
    expect(await handshake(port, certificate.cert, 'TLSv1.2', 'TLSv1.2')).toEqual({ ok: true, protocol: 'TLSv1.2' });
  });

  it('refuses TLS 1.1, 1.0 and CBC suites, although the same client completes them with a legacy server', async () => {
    // Control: the client really can speak 1.1 and 1.0 here.
    const legacy = createTlsServer({ cert: certificate.cert, key: certificate.key, minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' }, (s) => s.end());
    await new Promise<void>((resolve) => legacy.listen(0, '127.0.0.1', resolve));
    try {
      const legacyPort = (legacy.address() as AddressInfo).port;
      expect(await handshake(legacyPort, certificate.cert, 'TLSv1.1', 'TLSv1.1')).toEqual({ ok: true, protocol: 'TLSv1.1' });
      expect(await handshake(legacyPort, certificate.cert, 'TLSv1', 'TLSv1')).toEqual({ ok: true, protocol: 'TLSv1' });
      expect(await handshake(legacyPort, certificate.cert, 'TLSv1.2', 'TLSv1.2', 'ECDHE-ECDSA-AES128-SHA')).toEqual({ ok: true, protocol: 'TLSv1.2' });
    } finally {
      await new Promise((resolve) => legacy.close(resolve));
    }
    // TLS 1.2 with a CBC suite only: no shared cipher.
    expect(await handshake(port, certificate.cert, 'TLSv1.2', 'TLSv1.2', 'ECDHE-ECDSA-AES128-SHA')).toMatchObject({ ok: false, error: expect.stringMatching(/handshake failure|no shared cipher/i) });
    for (const version of ['TLSv1.1', 'TLSv1'] as const) {
      const outcome = await handshake(port, certificate.cert, version, version);
      expect(outcome.ok).toBe(false);
      expect(outcome).toMatchObject({ error: expect.stringMatching(/protocol version|unsupported protocol|wrong version/i) });
    }
  });

  it('serves requests over TLS with HSTS', async () => {
    expect(baseUrl(server)).toBe(`https://127.0.0.1:${port}`);
    const res = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const req = request(`${baseUrl(server)}/hello`, { ca: certificate.cert, timeout: 5_000 }, (r) => {
        let body = '';
        r.on('data', (chunk: Buffer) => (body += chunk.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }));
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end();
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ hello: 'world' });
    expect(res.headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');
  });

  it('names a missing TLS file without echoing any key material, and wants both files', () => {
    expect(() => loadTls({ certFile: certificate.certFile, keyFile: '/nonexistent/key.pem' })).toThrow(
      'cannot read the TLS key file /nonexistent/key.pem: ENOENT',
    );
    expect(() => loadTls({ certFile: certificate.certFile })).toThrow(/together/);
    expect(loadTls({})).toBeUndefined();
  });
});

describe('slow-client bounds', () => {
  /** Opens a raw socket, sends `head` and then `drip(n)` every 50 ms, never finishing the request. */
  function slowClient(port: number, head: string, drip: (n: number) => string): Promise<{ closed: boolean; response: string }> {
    return new Promise((resolve) => {
      const socket = netConnect(port, '127.0.0.1');
      let response = '';
      let dripping: NodeJS.Timeout | undefined;
      const finish = (closed: boolean) => {
        clearInterval(dripping);
        clearTimeout(giveUp);
        socket.destroy();
        resolve({ closed, response });
      };
      const giveUp = setTimeout(() => finish(false), 8_000);
      socket.on('connect', () => {
        socket.write(head);
        let n = 0;
        dripping = setInterval(() => socket.writable && socket.write(drip(n++)), 50);
      });
      socket.on('data', (chunk: Buffer) => (response += chunk.toString()));
      socket.on('close', () => finish(true));
      socket.on('error', () => undefined);
    });
  }

  it('drops a client that never finishes its headers (headersTimeout)', async () => {
    const server = await listen(app(), 0, '127.0.0.1', { headersTimeoutMs: 300, requestTimeoutMs: 600 });
    try {
      const outcome = await slowClient((server.address() as AddressInfo).port, 'GET /hello HTTP/1.1\r\nHost: x\r\n', (n) => `X-Drip-${n}: a\r\n`);
      expect(outcome.closed).toBe(true);
      expect(outcome.response).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      server.closeAllConnections();
      await close(server);
    }
  });

  it('drops a client that trickles its body (requestTimeout)', async () => {
    const server = await listen(app(), 0, '127.0.0.1', { headersTimeoutMs: 300, requestTimeoutMs: 600 });
    try {
      const head = 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{"a":"';
      const outcome = await slowClient((server.address() as AddressInfo).port, head, () => 'x');
      expect(outcome.closed).toBe(true);
      expect(outcome.response).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      server.closeAllConnections();
      await close(server);
    }
  });
});
