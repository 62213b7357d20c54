import { isSpanContextValid, trace } from '@opentelemetry/api';
import pino, { type Logger } from 'pino';
import { httpDuration, httpRequests } from '@ctp/telemetry';
import type { Step } from './step';

export type { Logger };

/**
 * The active span's ids on every line, so a log line leads to its trace and back. Without
 * tracing there is no active span and nothing is added.
 */
function traceIds(): { trace_id?: string; span_id?: string } {
  const active = trace.getActiveSpan()?.spanContext();
  return active && isSpanContextValid(active) ? { trace_id: active.traceId, span_id: active.spanId } : {};
}

/**
 * JSON logs. Redaction is a second line of defence: code never passes tokens,
 * keys or secrets to the logger in the first place.
 */
export function createLogger(service: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name: service,
      level: process.env.LOG_LEVEL ?? 'info',
      base: { service },
      mixin: traceIds,
      redact: {
        paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'apiKey', 'secret', '*.secret'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/** Polled every few seconds by kubelets and Prometheus: logged only when they fail. */
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Counts and logs every answered request, on one `finish` listener. Metrics: by route
 * template (never the raw path: bounded label cardinality; unmatched paths are `unmatched`),
 * method and status; long-lived streams count when they end. Log: one line, `debug`
 * normally and `warn` for a 5xx, naming the route template, method, status, partner id and
 * duration: never a body or a header, so no token, API key or Authorization value can
 * reach the log.
 */
export function observeRequests(logger: Logger): Step {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const route = req.route?.path ?? 'unmatched';
      const method = req.method !== undefined && req.method.length <= 7 ? req.method : 'OTHER';
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      httpRequests.series(route, method, String(res.statusCode)).inc();
      httpDuration.series(route, method).observe(seconds);
      const level = res.statusCode >= 500 ? 'warn' : 'debug';
      if (!logger.isLevelEnabled(level) || (level === 'debug' && PROBES.has(route))) return;
      const partner = (res.locals.partner as { id?: string } | undefined)?.id;
      logger[level]({ method, route, status: res.statusCode, partner, duration_ms: seconds * 1e3 }, 'request');
    });
    next();
  };
}
