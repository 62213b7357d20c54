import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { consumeSpan, messageHeaders, publishSpan } from './trace_context';
import { startTracing, tracingConfigured, type Tracing } from './tracing';

describe('tracingConfigured', () => {
  it.each([
    [{}, false],
    [{ OTEL_SERVICE_NAME: 'issuer' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }, true],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, true],
    [{ OTEL_TRACES_EXPORTER: 'console' }, true],
    [{ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, false],
    [{ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }, false],
    [{ OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, true],
  ])('%j -> %s', (env, expected) => {
    expect(tracingConfigured(env)).toBe(expected);
  });

  it('starts nothing when OTEL_* are unset', () => {
    for (const name of Object.keys(process.env)) if (name.startsWith('OTEL_')) delete process.env[name];
    expect(startTracing('test')).toBeUndefined();
  });
});

describe('with tracing on', () => {
  const exporter = new InMemorySpanExporter();
  const processor = new SimpleSpanProcessor({ exporter });
  // Exports wait for the host detector's asynchronous attributes: flush before reading.
  const finished = async () => {
    await processor.forceFlush();
    return exporter.getFinishedSpans();
  };
  let tracing: Tracing;
  beforeAll(() => {
    tracing = startTracing('test', { spanProcessors: [processor] })!;
  });
  afterAll(() => tracing.shutdown());
  beforeEach(() => exporter.reset());

  it('publishes the producer span context, child of the active span, and drops baggage', async () => {
    const tracer = trace.getTracer('spec');
    const parent = tracer.startSpan('request');
    const withBaggage = propagation.setBaggage(trace.setSpan(ROOT_CONTEXT, parent), propagation.createBaggage({ partner_note: { value: 'x' } }));
    const headers = await context.with(withBaggage, () => publishSpan('ctp.ledger.consent.issued', 'ignored', async (h) => h));
    parent.end();
    const [publish] = (await finished()).filter((s) => s.kind === SpanKind.PRODUCER);
    expect(publish!.name).toBe('publish ctp.ledger.consent.issued');
    expect(publish!.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(headers).toEqual({ traceparent: `00-${parent.spanContext().traceId}-${publish!.spanContext().spanId}-01` });
    expect(publish!.attributes['messaging.destination.name']).toBe('ctp.ledger.consent.issued');
  });

  it('continues one message trace, and parents a batch on its first message with links to all', async () => {
    const a = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
    const b = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    await consumeSpan('one', [{ headers: a, subject: 's.1' }], async () => undefined);
    await consumeSpan('batch', [{ headers: a }, { headers: {} }, { headers: b }], async () => undefined);
    await consumeSpan('none', [{ headers: {} }], async () => undefined);
    const [one, batch, none] = await finished();
    expect(one!.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(one!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(one!.kind).toBe(SpanKind.CONSUMER);
    expect(one!.links).toEqual([]);
    expect(batch!.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(batch!.links.map((l) => l.context.traceId)).toEqual(['4bf92f3577b34da6a3ce929d0e0e4736', '0af7651916cd43dd8448eb211c80319c']);
    expect(batch!.attributes['messaging.batch.message_count']).toBe(3);
    expect(none!.parentSpanContext).toBeUndefined();
  });

  it('marks a failed publish as an error and still answers with its error', async () => {
    await expect(publishSpan('x', undefined, async () => Promise.reject(new Error('no responders')))).rejects.toThrow('no responders');
    expect((await finished())[0]!.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('gives a message outside any span a new trace', () => {
    expect(messageHeaders().traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  });
});
