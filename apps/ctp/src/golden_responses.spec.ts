import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@ctp/http';
import { GUIDE_ENVELOPE, rawHttp as raw } from '@ctp/testing';
import { upConfigSchema } from './config';
import { startCtp, type RunningCtp } from './up';

/**
 * Golden responses of `ctp up`: the exact bytes (status line, every header in order, body)
 * of the hot routes and their refusals, so work on the request path (header sets, body
 * reader, route order, metrics, rate limits) cannot change a byte unnoticed. Only what
 * differs per run is masked: the Date header, and the token, jti and pairwise subject.
 */
const post = (path: string, body: string, headers: string[] = ['Content-Type: application/json']) =>
  [`POST ${path} HTTP/1.1`, 'Host: golden', 'Connection: close', ...headers, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
const get = (path: string) => [`GET ${path} HTTP/1.1`, 'Host: golden', 'Connection: close', '', ''].join('\r\n');

describe('ctp up golden responses (bytes on the wire)', () => {
  let ctp: RunningCtp;
  let port: number;
  let dataDir: string;
  let issued: { token: string; jti: string };
  let sub: string;
  const mask = (text: string) =>
    text
      .replace(/^Date: .*$/m, 'Date: <date>')
      .split(issued.token)
      .join('<token>')
      .split(issued.jti)
      .join('<jti>')
      .split(sub)
      .join('<sub>');

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ctp-golden-'));
    const logger = createLogger('golden');
    logger.level = 'silent';
    ctp = await startCtp(upConfigSchema.parse({ CTP_PORT: '0', CTP_HOST: '127.0.0.1', CTP_DATA_DIR: dataDir }), logger);
    port = Number(new URL(ctp.url).port);
    const answer = await raw(port, post('/issue', JSON.stringify(GUIDE_ENVELOPE)));
    issued = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { token: string; jti: string };
    const allowed = await raw(port, post('/introspect', JSON.stringify({ token: issued.token, context_envelope: GUIDE_ENVELOPE })));
    sub = (JSON.parse(allowed.slice(allowed.indexOf('\r\n\r\n') + 4)) as { sub: string }).sub;
  }, 120_000);
  afterAll(async () => {
    await ctp?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('POST /issue', async () => {
    const answer = mask(await raw(port, post('/issue', JSON.stringify(GUIDE_ENVELOPE))));
    // A new token and jti each time: the head is golden, the body's shape is checked by the API specs.
    expect(answer.slice(0, answer.indexOf('\r\n\r\n'))).toMatchSnapshot();
  });

  it('POST /issue replayed under the same Idempotency-Key', async () => {
    const request = post('/issue', JSON.stringify(GUIDE_ENVELOPE), ['Content-Type: application/json', 'Idempotency-Key: "golden-replay"']);
    await raw(port, request);
    const answer = await raw(port, request);
    expect(answer.slice(0, answer.indexOf('\r\n\r\n')).replace(/^Date: .*$/m, 'Date: <date>')).toMatchSnapshot();
  });

  it.each([
    ['introspect, allow (cached)', () => post('/introspect', JSON.stringify({ token: issued.token, context_envelope: GUIDE_ENVELOPE }))],
    ['introspect, context mismatch', () => post('/introspect', JSON.stringify({ token: issued.token, context_envelope: { ...GUIDE_ENVELOPE, jurisdiction: 'US-CA' } }))],
    ['introspect, malformed token', () => post('/introspect', JSON.stringify({ token: 'x.y.z', context_envelope: GUIDE_ENVELOPE }))],
    ['introspect, invalid envelope', () => post('/introspect', JSON.stringify({ token: issued.token, context_envelope: { channel: 'voice' } }))],
    ['introspect, not JSON', () => post('/introspect', '{"token":')],
    ['introspect, wrong media type', () => post('/introspect', '{}', ['Content-Type: text/plain'])],
    ['introspect, bad credential', () => post('/introspect', '{}', ['Content-Type: application/json', 'Authorization: Bearer nope'])],
    ['introspect, GET', () => get('/introspect')],
    ['introspect, other spelling', () => get('/Introspect')],
    ['issue, invalid envelope', () => post('/issue', '{"channel":"voice"}')],
    ['introspect, body over the limit', () => post('/introspect', `{"token":"${'x'.repeat(17 * 1024)}"}`)],
    ['healthz', () => get('/healthz')],
  ])('%s', async (_name, request) => {
    expect(mask(await raw(port, request()))).toMatchSnapshot();
  });
});
