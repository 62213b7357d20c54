import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { createLogger } from '@ctp/http';
import { generateApiKey } from '@ctp/partners';
import { LEDGER_STREAM, REVOCATION_STREAM } from '@ctp/events';
import { startTracing } from '@ctp/telemetry';
import { type Tracing } from '@ctp/telemetry/internal';
import { GUIDE_ENVELOPE, postJson } from '@ctp/testing';
import { upConfigSchema } from './config';
import { startCtp, type RunningCtp } from './up';

// Tracing starts before any app is built, as in main(): the express patches apply to
// routes as they are registered.
const exporter = new InMemorySpanExporter();
const processor = new SimpleSpanProcessor({ exporter });
let tracing: Tracing;
beforeAll(() => {
  tracing = startTracing('ctp-test', { spanProcessors: [processor] })!;
});
afterAll(() => tracing.shutdown());

/** Finished spans once `found` picks what the test waits for (bus consumers finish after the HTTP answer). */
async function spansUntil<T>(found: (spans: ReadableSpan[]) => T | undefined, timeoutMs = 5_000): Promise<{ spans: ReadableSpan[]; found: T }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await processor.forceFlush();
    const spans = exporter.getFinishedSpans();
    const result = found(spans);
    if (result !== undefined) return { spans, found: result };
    if (Date.now() > deadline) throw new Error(`span not found among ${spans.map((s) => s.name).join(', ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** True when `span` descends from `ancestor` through the finished spans (express adds a handler span between). */
function descends(span: ReadableSpan, ancestor: ReadableSpan, spans: ReadableSpan[]): boolean {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  for (let parent = span.parentSpanContext?.spanId; parent; parent = byId.get(parent)?.parentSpanContext?.spanId) {
    if (parent === ancestor.spanContext().spanId) return true;
  }
  return false;
}

const serverSpan = (spans: ReadableSpan[], route: string) => spans.find((s) => s.kind === SpanKind.SERVER && s.attributes['http.route'] === route);

describe('traces across HTTP, the bus and the ledger (ctp up: in-process bus, PGlite)', () => {
  let ctp: RunningCtp;
  beforeAll(async () => {
    const config = upConfigSchema.parse({ CTP_PORT: '0', CTP_DATA_DIR: mkdtempSync(join(tmpdir(), 'ctp-otel-')), CTP_LEDGER_BATCH_WAIT_MS: '20' });
    ctp = await startCtp(config, createLogger('test'));
  });
  afterAll(() => ctp.close());
  beforeEach(() => exporter.reset());

  it('(a, b) /issue: server span -> publish span -> bus traceparent -> ledger-writer append, one trace', async () => {
    const issued = await postJson(`${ctp.url}/issue`, GUIDE_ENVELOPE);
    expect(issued.status).toBe(200);
    const jti = issued.body.jti as string;
    const { spans, found: append } = await spansUntil((spans) => spans.find((s) => s.name === 'INSERT ledger_entries' && s.attributes['ctp.ledger.appended'] === 1));
    const server = serverSpan(spans, '/issue')!;
    expect(server.name).toBe('POST /issue');
    const traceId = server.spanContext().traceId;
    const publish = spans.find((s) => s.kind === SpanKind.PRODUCER && s.name === 'publish ctp.ledger.consent.issued')!;
    expect(publish.spanContext().traceId).toBe(traceId);
    expect(descends(publish, server, spans)).toBe(true);

    const stored = await ctp.bus.read<{ jti: string }>({ stream: LEDGER_STREAM, filter: 'ctp.ledger.consent.issued', fromSeq: 1, max: 100 });
    const event = stored.events.find((e) => e.data.jti === jti)!;
    expect(event.headers.traceparent).toBe(`00-${traceId}-${publish.spanContext().spanId}-01`);

    const writer = spans.find((s) => s.name === 'ledger-writer process' && s.spanContext().traceId === traceId)!;
    expect(writer.kind).toBe(SpanKind.CONSUMER);
    expect(writer.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
    expect(append.spanContext().traceId).toBe(traceId);
    expect(append.parentSpanContext?.spanId).toBe(writer.spanContext().spanId);
  });

  it('(c) /revoke -> the introspector revocation-sync span shares the revoke trace', async () => {
    const { jti } = (await postJson(`${ctp.url}/issue`, GUIDE_ENVELOPE)).body as { jti: string };
    exporter.reset();
    expect((await postJson(`${ctp.url}/revoke`, { jti })).status).toBe(200);
    const { spans, found: sync } = await spansUntil((spans) => spans.find((s) => s.name === 'revocation-sync process'));
    const server = serverSpan(spans, '/revoke')!;
    const publish = spans.find((s) => s.kind === SpanKind.PRODUCER && s.name === 'publish ctp.revocations.demo')!;
    expect(descends(publish, server, spans)).toBe(true);
    expect(sync.kind).toBe(SpanKind.CONSUMER);
    expect(sync.spanContext().traceId).toBe(server.spanContext().traceId);
    expect(sync.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
    const revoked = await ctp.bus.read<{ jti: string }>({ stream: REVOCATION_STREAM, filter: 'ctp.revocations.>', fromSeq: 1, max: 100 });
    expect(revoked.events.find((e) => e.data.jti === jti)!.headers.traceparent).toContain(server.spanContext().traceId);
  });

  it("continues a caller's traceparent and leaves probes untraced", async () => {
    const caller = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect((await postJson(`${ctp.url}/issue`, GUIDE_ENVELOPE, { traceparent: caller })).status).toBe(200);
    for (const probe of ['/healthz', '/readyz', '/metrics']) expect((await fetch(`${ctp.url}${probe}`)).status).toBe(200);
    const { spans, found: server } = await spansUntil((spans) => serverSpan(spans, '/issue'));
    expect(server.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(server.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(spans.filter((s) => s.kind === SpanKind.SERVER).map((s) => s.attributes['http.route'])).toEqual(['/issue']);
  });
});

describe('logs and error responses carry no token, API key, private key or subject secret', () => {
  const acme = generateApiKey('acme');
  const lines: string[] = [];
  const answers: { status: number; text: string }[] = [];
  let ctp: RunningCtp;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ctp-logs-'));
    const partners = join(dataDir, 'partners.json');
    writeFileSync(
      partners,
      JSON.stringify({ partners: [{ id: 'acme', name: 'Acme', api_key_hashes: [acme.hash], processors: ['svc://cx-ai/v1'], policy_uri: 'https://acme.example/policy' }] }),
    );
    const captured = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const logger = createLogger('ctp', captured);
    logger.level = 'trace';
    const config = upConfigSchema.parse({ CTP_PORT: '0', CTP_DATA_DIR: dataDir, CTP_DEV_MODE: 'false', CTP_PARTNERS_FILE: partners, CTP_LEDGER_BATCH_WAIT_MS: '20', CTP_RATE_LIMIT_REVOKE: '1/60s' });
    ctp = await startCtp(config, logger);
  });
  afterAll(() => ctp.close());

  async function send(path: string, body: unknown, headers: Record<string, string> = {}) {
    const r = await postJson(`${ctp.url}${path}`, body, headers);
    answers.push({ status: r.status, text: r.text });
    return r;
  }

  it('logs each request with its route, status and trace ids, and nothing secret', async () => {
    const auth = { authorization: `Bearer ${acme.apiKey}` };
    const subjectRef = 'user-4711@example.com';
    const issued = await send('/issue', { ...GUIDE_ENVELOPE, subject_ref: subjectRef }, auth);
    expect(issued.status).toBe(200);
    const token = issued.body.token as string;
    const jti = issued.body.jti as string;
    expect((await send('/introspect', { token, context_envelope: GUIDE_ENVELOPE }, auth)).body).toMatchObject({ decision: 'allow' });
    expect((await send('/revoke', { jti, reason: 'user_request' }, auth)).status).toBe(200);
    // Over the revoke limit: a 429 problem, which must carry no secret either.
    expect((await send('/revoke', { jti, reason: 'user_request' }, auth)).status).toBe(429);
    expect((await send('/introspect', { token, context_envelope: GUIDE_ENVELOPE }, auth)).body).toMatchObject({ decision: 'deny', reason: 'revoked' });
    // Failures that carry secrets in the request: a wrong key, a wrong scheme, a token in a broken body or one that does not verify.
    expect((await send('/introspect', { token, context_envelope: GUIDE_ENVELOPE }, { authorization: `Bearer ${acme.apiKey}x` })).status).toBe(401);
    expect((await send('/issue', GUIDE_ENVELOPE, { authorization: `Basic ${acme.apiKey}` })).status).toBe(401);
    expect((await send('/introspect', `{"context_envelope": {}, "token": "${token}"`, auth)).status).toBe(400);
    expect((await send('/introspect', { token: `${token.slice(0, -4)}AAAA`, context_envelope: GUIDE_ENVELOPE }, auth)).body).toMatchObject({ decision: 'deny' });
    await new Promise((r) => setTimeout(r, 200)); // the ledger writer appends the events meanwhile

    const log = lines.join('\n');
    const requests = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
    expect(requests.map((l) => `${l.route} ${l.status}`)).toEqual([
      '/issue 200',
      '/introspect 200',
      '/revoke 200',
      '/revoke 429',
      '/introspect 200',
      '/introspect 401',
      '/issue 401',
      '/introspect 400',
      '/introspect 200',
    ]);
    for (const l of requests) {
      expect(l).toMatchObject({ level: 20, service: 'ctp', method: 'POST', duration_ms: expect.any(Number) });
      expect(l.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(l.span_id).toMatch(/^[0-9a-f]{16}$/);
    }
    expect(requests[0]!.partner).toBe('acme');

    const secrets: Record<string, string> = {
      token,
      'token signature': token.split('.')[2]!,
      'API key': acme.apiKey,
      'API key secret part': acme.apiKey.slice(acme.apiKey.lastIndexOf('.') + 1),
      'subject secret': readFileSync(join(dataDir, 'subject.secret'), 'utf8').trim(),
      'subject secret (hex)': Buffer.from(readFileSync(join(dataDir, 'subject.secret'), 'utf8').trim(), 'base64').toString('hex'),
      'subject reference': subjectRef,
    };
    for (const dir of ['keys', 'ledger-keys']) {
      for (const file of readdirSync(join(dataDir, dir)).filter((f) => f.endsWith('.pem'))) {
        const pem = readFileSync(join(dataDir, dir, file), 'utf8');
        // Every 64-character base64 line of the key body, so no fragment of it is missed either.
        pem
          .split('\n')
          .filter((line) => line.length >= 32 && !line.startsWith('-----'))
          .forEach((line, i) => (secrets[`${dir}/${file} line ${i}`] = line));
      }
    }
    expect(Object.keys(secrets).some((k) => k.startsWith('keys/'))).toBe(true);
    const errors = answers.filter((a) => a.status >= 400).map((a) => a.text);
    expect(errors).toHaveLength(4);
    for (const [what, value] of Object.entries(secrets)) {
      expect({ what, inLogs: log.includes(value) }).toEqual({ what, inLogs: false });
      expect({ what, inErrorResponses: errors.some((e) => e.includes(value)) }).toEqual({ what, inErrorResponses: false });
    }
    expect(log).not.toMatch(/PRIVATE KEY|authorization|Bearer/i);
  });
});
