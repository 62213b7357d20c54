import type { SpanProcessor } from '@opentelemetry/sdk-trace';

/** Probe and scrape routes: a span per kubelet or Prometheus poll would drown the real traffic. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * True when OTEL_* variables ask for traces: an exporter named in OTEL_TRACES_EXPORTER
 * (other than `none`), or an OTLP endpoint. Unlike the SDK's own default (`otlp` to
 * localhost), nothing configured means no tracing at all, and OTEL_SDK_DISABLED=true wins.
 */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'null');
  if (exporters.length > 0) return !exporters.includes('none');
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

export interface TracingOptions {
  /** Replaces the exporter OTEL_* configure (tests pass an in-memory one); tracing then starts regardless. */
  spanProcessors?: SpanProcessor[];
}

export interface Tracing {
  /** Flushes buffered spans and removes the instrumentation patches. */
  shutdown(): Promise<void>;
}

/**
 * Starts OpenTelemetry tracing for one service when OTEL_* configure it (see
 * tracingConfigured), else does nothing and loads nothing: the SDK and instrumentations
 * are required only here, so an untraced service pays neither their load time
 * (~0.5 s, ~40 MiB) nor any per-request hook. Call it first in main(), before the
 * express app is built and Redis is connected.
 *
 * Traces only: metrics stay on Prometheus (/metrics) and logs on stdout (pino), so the
 * SDK's OTLP metric and log exporters are switched off whatever OTEL_* say.
 */
export function startTracing(serviceName: string, options: TracingOptions = {}): Tracing | undefined {
  if (!options.spanProcessors && !tracingConfigured()) return undefined;
  // Required lazily (see above), with literal names so that esbuild still bundles them.
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  const { ExpressInstrumentation, ExpressLayerType } = require('@opentelemetry/instrumentation-express') as typeof import('@opentelemetry/instrumentation-express');
  const { IORedisInstrumentation } = require('@opentelemetry/instrumentation-ioredis') as typeof import('@opentelemetry/instrumentation-ioredis');
  // OTEL_NODE_DISABLED_INSTRUMENTATIONS (the auto-instrumentations' variable) switches one
  // off: express costs the most per request (docs/operations.md, "Traces and logs").
  const disabled = new Set((process.env.OTEL_NODE_DISABLED_INSTRUMENTATIONS ?? '').split(',').map((s) => s.trim()));
  const instrumentations = [
    disabled.has('http')
      ? undefined
      : new HttpInstrumentation({
          ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.has((req.url ?? '').replace(/\?.*/s, '')),
          // Outgoing HTTP is only JWKS fetches (undici, not node:http): no client spans wanted.
          disableOutgoingRequestInstrumentation: true,
        }),
    // One span per route handler; the HTTP span is still named after the route. Spans for
    // each middleware and router layer would triple the span count for no insight.
    disabled.has('express') ? undefined : new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE, ExpressLayerType.ROUTER] }),
    // Command names only: arguments hold jtis and CRL entries, which have no business in a trace backend.
    disabled.has('ioredis') ? undefined : new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }),
  ].filter((i) => i !== undefined);
  // OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) overrides the default name.
  const named = process.env.OTEL_SERVICE_NAME?.trim() || /(^|,)\s*service\.name\s*=/.test(process.env.OTEL_RESOURCE_ATTRIBUTES ?? '');
  const sdk = new NodeSDK({
    ...(named ? {} : { serviceName }),
    instrumentations,
    ...(options.spanProcessors ? { spanProcessors: options.spanProcessors } : {}),
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  // The SDK patches modules through require hooks, which never see the modules an esbuild
  // bundle (the container images) inlines, nor those Jest loads through its own registry,
  // and under tsx main's hoisted imports have loaded express before this runs. So the
  // instances this process actually uses are patched here, which works in all three; where
  // a require hook has patched one already (moduleExports set) it is skipped.
  const loaded: Record<string, () => unknown> = {
    http: () => require('node:http'),
    express: () => require('express'),
    ioredis: () => require('ioredis'),
  };
  for (const instrumentation of instrumentations) {
    for (const definition of instrumentation.getModuleDefinitions()) {
      const load = loaded[definition.name];
      if (!load || definition.moduleExports !== undefined || !definition.patch) continue;
      const exports = load();
      definition.patch(exports);
      definition.moduleExports = exports;
    }
  }
  const tracing: Tracing = {
    shutdown: async () => {
      running.delete(tracing);
      for (const instrumentation of instrumentations) instrumentation.disable();
      await sdk.shutdown();
    },
  };
  running.add(tracing);
  return tracing;
}

const running = new Set<Tracing>();

/** Whether tracing runs in this process (startTracing started it and it has not been shut down). */
export const tracingActive = (): boolean => running.size > 0;

/** Flushes and stops whatever startTracing started (a no-op without tracing): spans still batched are exported before exit. */
export async function stopTracing(): Promise<void> {
  await Promise.all([...running].map((t) => t.shutdown()));
}
