import { isSpanContextValid, trace } from '@opentelemetry/api';
import type { RequestHandler } from 'express';
import pino, { type Logger } from 'pino';

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
 * One line per answered request: `debug` normally, `warn` for a 5xx. It names the route
 * template (never the raw path or query), method, status, partner id and duration: never
 * a body or a header, so no token, API key or Authorization value can reach the log.
 */
export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const level = res.statusCode >= 500 ? 'warn' : 'debug';
      if (!logger.isLevelEnabled(level)) return;
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      if (level === 'debug' && PROBES.has(route)) return;
      logger[level](
        {
          method: req.method.length <= 7 ? req.method : 'OTHER',
          route,
          status: res.statusCode,
          partner: (res.locals.partner as { id?: string } | undefined)?.id,
          duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
        },
        'request',
      );
    });
    next();
  };
}
