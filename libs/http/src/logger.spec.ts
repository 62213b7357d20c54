import type { Server } from 'node:http';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { clientAborts, startTracing } from '@ctp/telemetry';
import { type Tracing } from '@ctp/telemetry/internal';
import { waitFor } from '@ctp/testing';
import { apiRouter, createServiceApp } from './app';
import { jsonBody } from './body';
import { baseUrl, close, listen } from './listen';
import { createLogger } from './logger';

function captured() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe('createLogger without tracing', () => {
  it('adds no trace fields and redacts secrets handed to it by mistake', () => {
    const { lines, stream } = captured();
    createLogger('svc', stream).info({ token: 'eyJ.secret', headers: { authorization: 'Bearer k.s' } }, 'hello');
    expect(lines[0]).toMatchObject({ service: 'svc', msg: 'hello', token: '[redacted]', headers: { authorization: '[redacted]' } });
    expect(lines[0]).not.toHaveProperty('trace_id');
  });
});

describe('with tracing on', () => {
  const processor = new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() });
  let tracing: Tracing;
  let server: Server;
  let url: string;
  const { lines, stream } = captured();
  beforeAll(async () => {
    tracing = startTracing('logger-spec', { spanProcessors: [processor] })!;
    const logger = createLogger('svc', stream);
    logger.level = 'debug';
    const router = apiRouter();
    router.post('/things/:id', jsonBody(), (_req, res) => {
      logger.info('handling');
      res.json({ ok: true });
    });
    router.get('/broken', () => {
      throw new Error('database exploded');
    });
    server = await listen(createServiceApp({ logger, readiness: {}, routers: [router] }), 0, '127.0.0.1');
    url = baseUrl(server);
  });
  afterAll(async () => {
    await close(server);
    await tracing.shutdown();
  });
  beforeEach(() => lines.splice(0));

  it('puts the active span ids on every line', () => {
    trace.getTracer('spec').startActiveSpan('work', (active) => {
      createLogger('svc', stream).info('inside');
      active.end();
      expect(lines[0]).toMatchObject({ trace_id: active.spanContext().traceId, span_id: active.spanContext().spanId });
    });
  });

  it('logs one debug line per request: route template, status, duration and trace ids; no path, body or headers', async () => {
    const secret = 'eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl';
    const res = await fetch(`${url}/things/${secret}?token=${secret}`, {
      method: 'POST',
      headers: { authorization: `Bearer acme.${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ token: secret }),
    });
    expect(res.status).toBe(200);
    await fetch(`${url}/healthz`);
    await fetch(`${url}/nowhere/${secret}`);
    const [handling, request, notFound] = lines;
    expect(handling).toMatchObject({ msg: 'handling', trace_id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(request).toMatchObject({ level: 20, msg: 'request', method: 'POST', route: '/things/:id', status: 200, trace_id: handling!.trace_id, duration_ms: expect.any(Number) });
    expect(notFound).toMatchObject({ msg: 'request', method: 'GET', route: 'unmatched', status: 404 });
    expect(lines).toHaveLength(3); // /healthz is not logged while it answers
    expect(JSON.stringify(lines)).not.toContain('c2VjcmV0');
  });

  it('takes a client that goes away mid-body for what it is: a debug line and a count, not an error', async () => {
    const before = (await clientAborts.get()).values[0]?.value ?? 0;
    const { port } = new URL(url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write('POST /things/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"token":');
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    await waitFor(async () => ((await clientAborts.get()).values[0]?.value ?? 0) === before + 1, 2_000, 'the abort to be counted');
    expect(lines.filter((l) => (l.level as number) >= 40)).toEqual([]);
    expect(lines).toContainEqual(expect.objectContaining({ level: 20, msg: 'client went away before the request was read' }));
  });

  it('warns on a 5xx, and the error line carries the trace too', async () => {
    expect((await fetch(`${url}/broken`)).status).toBe(500);
    const error = lines.find((l) => l.msg === 'unhandled error')!;
    const request = lines.find((l) => l.msg === 'request')!;
    expect(error).toMatchObject({ level: 50, err: { message: 'database exploded' }, trace_id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(request).toMatchObject({ level: 40, route: '/broken', status: 500, trace_id: error.trace_id });
  });
});
