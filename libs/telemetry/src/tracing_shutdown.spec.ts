import { trace } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace';
import { startTracing, stopTracing } from './tracing';

// A file of its own: the OpenTelemetry API keeps one global tracer provider per process
// (per Jest test file), and the other tracing specs have registered theirs.
describe('stopTracing', () => {
  it('exports spans still waiting in a batch (what shutdownOnSignals runs before exit)', async () => {
    // InMemorySpanExporter forgets its spans on shutdown, so this one only records names.
    const exported: string[] = [];
    const exporter: SpanExporter = {
      export: (spans, done) => {
        exported.push(...spans.map((s) => s.name));
        done({ code: ExportResultCode.SUCCESS });
      },
      shutdown: async () => undefined,
    };
    // A batch that would wait a minute: only the flush on shutdown exports the span in time.
    startTracing('test', { spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 60_000 })] });
    trace.getTracer('test').startSpan('before-exit').end();
    expect(exported).toEqual([]);
    await stopTracing();
    expect(exported).toEqual(['before-exit']);
    await stopTracing(); // idempotent: nothing left to stop
  });
});
