import { mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import WebSocket from 'ws';
import { createLogger } from '@ctp/http';
import { GUIDE_ENVELOPE, makeTestCertificate, type TestCertificate } from '@ctp/testing';
import { upConfigSchema } from './config';
import { startCtp, type RunningCtp } from './up';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

describe('ctp up terminating TLS itself (dev mode, demo partner rate-limited)', () => {
  let certificate: TestCertificate;
  let ctp: RunningCtp;
  const lines: string[] = [];
  const answers: Answer[] = [];

  function send(method: string, path: string, body?: unknown): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        `${ctp.url}${path}`,
        { method, ca: certificate.cert, timeout: 10_000, headers: payload ? { 'content-type': 'application/json' } : {} },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => {
            const answer = { status: res.statusCode ?? 0, headers: res.headers, text };
            answers.push(answer);
            resolve(answer);
          });
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end(payload);
    });
  }

  beforeAll(async () => {
    certificate = makeTestCertificate();
    const logger = createLogger(
      'ctp',
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
          done();
        },
      }),
    );
    logger.level = 'trace';
    const config = upConfigSchema.parse({
      CTP_PORT: '0',
      CTP_DATA_DIR: mkdtempSync(join(tmpdir(), 'ctp-tls-up-')),
      CTP_TLS_CERT_FILE: certificate.certFile,
      CTP_TLS_KEY_FILE: certificate.keyFile,
      CTP_RATE_LIMIT_ISSUE: '2/60s',
    });
    ctp = await startCtp(config, logger);
  });
  afterAll(() => ctp?.close());

  it('requires both TLS files or neither', () => {
    expect(() => upConfigSchema.parse({ CTP_TLS_CERT_FILE: certificate.certFile })).toThrow(/CTP_TLS_CERT_FILE and CTP_TLS_KEY_FILE together/);
  });

  it('serves the API over HTTPS with HSTS, and limits the demo partner', async () => {
    expect(ctp.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const issued = await send('POST', '/issue', GUIDE_ENVELOPE);
    expect(issued.status).toBe(200);
    expect(issued.headers['strict-transport-security']).toMatch(/^max-age=\d{8,}; includeSubDomains$/);
    const { token } = JSON.parse(issued.text) as { token: string };
    expect(JSON.parse((await send('POST', '/introspect', { token, context_envelope: GUIDE_ENVELOPE })).text)).toMatchObject({ decision: 'allow' });
    expect((await send('POST', '/issue', GUIDE_ENVELOPE)).status).toBe(200);
    const refused = await send('POST', '/issue', GUIDE_ENVELOPE);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(refused.text)).toMatchObject({ code: 'rate_limited', status: 429 });
    expect(refused.headers['strict-transport-security']).toBeDefined();
    const readyz = await send('GET', '/readyz');
    expect(readyz.status).toBe(200);
    expect(JSON.parse(readyz.text)).not.toHaveProperty('checks.clock'); // embedded mode: no peer clock to compare
  });

  it('upgrades /revocations/ws over TLS (wss) and pushes revocations', async () => {
    const ws = new WebSocket(`${ctp.url.replace('https', 'wss')}/revocations/ws`, { ca: certificate.cert });
    const messages: { type: string; jti?: string }[] = [];
    const waitFor = (predicate: () => boolean) =>
      new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(() => (clearInterval(poll), reject(new Error(`timed out; got ${JSON.stringify(messages)}`))), 10_000);
        const poll = setInterval(() => predicate() && (clearInterval(poll), clearTimeout(deadline), resolve()), 20);
      });
    ws.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString()) as { type: string; jti?: string }));
    try {
      await waitFor(() => messages.some((m) => m.type === 'ready'));
      const issuedJti = JSON.parse(answers.find((a) => a.status === 200 && a.text.includes('"jti"'))!.text) as { jti: string };
      expect((await send('POST', '/revoke', { jti: issuedJti.jti })).status).toBe(200);
      await waitFor(() => messages.some((m) => m.type === 'revocation' && m.jti === issuedJti.jti));
    } finally {
      ws.terminate();
    }
  });

  it('never logs the TLS private key nor returns it in an error response', () => {
    const keyLines = certificate.key.split('\n').filter((line) => line.length >= 32 && !line.startsWith('-----'));
    expect(keyLines.length).toBeGreaterThan(0);
    const log = lines.join('\n');
    const errors = answers.filter((a) => a.status >= 400).map((a) => a.text);
    expect(errors.length).toBeGreaterThan(0);
    for (const line of keyLines) {
      expect(log.includes(line)).toBe(false);
      expect(errors.some((e) => e.includes(line))).toBe(false);
    }
    expect(log).not.toMatch(/PRIVATE KEY/);
  });
});
