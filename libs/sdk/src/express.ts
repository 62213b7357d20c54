import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Histogram, register as defaultRegistry, type Registry } from 'prom-client';
import type { ContextEnvelope, IntrospectionResult } from '@ctp/ctp-core';
import { DENY_MESSAGES, type ConsentDenyCode } from './deny_messages';
// Through the package's main entry, so the published CJS and ESM builds share one copy of it.
import { consentEnvelope, type CtpClient, type LocalValidator } from './index';

export { DENY_MESSAGES, type ConsentDenyCode };

/** The header requireConsent reads the consent token from (integration guide, "Express middleware"). */
export const CONSENT_TOKEN_HEADER = 'CTP-Consent-Token';
const TOKEN_HEADER_KEY = CONSENT_TOKEN_HEADER.toLowerCase();
/** RFC 9457 `type` of the problem answered on a deny; `code` says which. */
export const CONSENT_DENIED_TYPE = 'urn:ctp:problem:consent_denied';

/** The envelope fields that do not come from the operation itself. */
export type EnvelopeContext = Pick<ContextEnvelope, 'channel' | 'processor' | 'retention' | 'jurisdiction' | 'ui_copy_id'>;

export interface ConsentDecision extends IntrospectionResult {
  /** Where it was decided: in this process, or by POST /introspect. */
  mode: 'local' | 'introspect';
}

export type ConsentRequest = IncomingMessage & { consent?: ConsentDecision };

export interface RequireConsentOptions {
  purpose: string;
  features: string[];
  /** The rest of the envelope the token was issued for: fixed, or per request (e.g. the person's jurisdiction and copy). */
  envelope: EnvelopeContext | ((req: ConsentRequest) => EnvelopeContext | Promise<EnvelopeContext>);
  /** Decide in process (no network hop per call)... */
  validator?: LocalValidator;
  /** ...or through POST /introspect. Give exactly one. */
  client?: Pick<CtpClient, 'introspect'>;
  /** Where the token comes from (default: the CTP-Consent-Token header). */
  token?: (req: ConsentRequest) => string | undefined | Promise<string | undefined>;
  /** prom-client registry for the decision metrics (default: prom-client's global registry). */
  registry?: Registry;
}

interface ConsentMetrics {
  decisions: Counter<'decision' | 'reason' | 'mode'>;
  latency: Histogram<'mode'>;
}

const metricsByRegistry = new WeakMap<Registry, ConsentMetrics>();

function metricsFor(registry: Registry): ConsentMetrics {
  let metrics = metricsByRegistry.get(registry);
  if (!metrics) {
    metrics = {
      decisions: new Counter({
        name: 'ctp_sdk_consent_decisions_total',
        help: 'Consent checks by requireConsent, by decision, reason (deny reason, consent_missing, or none) and mode (local, introspect).',
        labelNames: ['decision', 'reason', 'mode'] as const,
        registers: [registry],
      }),
      latency: new Histogram({
        name: 'ctp_sdk_consent_decision_seconds',
        help: 'Time requireConsent took to decide, by mode.',
        labelNames: ['mode'] as const,
        buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
        registers: [registry],
      }),
    };
    metricsByRegistry.set(registry, metrics);
  }
  return metrics;
}

const MAX_REMEMBERED_ENVELOPES = 1000;

/** Answers a refused consent check as requireConsent does (RFC 9457; 403, or 503 with Retry-After for revocation_unavailable). */
export function sendConsentDenied(res: ServerResponse, code: ConsentDenyCode): void {
  const status = code === 'revocation_unavailable' ? 503 : 403;
  if (status === 503) res.setHeader('Retry-After', '1');
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/problem+json');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify({ type: CONSENT_DENIED_TYPE, title: 'Consent is needed for this', status, detail: DENY_MESSAGES[code], code }));
}

/**
 * Express middleware that lets a request through only with consent for `purpose` and
 * `features`: it reads the token, builds the envelope, decides (locally or through
 * /introspect), and on a deny answers an RFC 9457 problem whose `detail` can be shown to the
 * person and whose `code` is the stable deny reason (403; 503 for `revocation_unavailable`).
 * On allow, `req.consent` holds the decision for the handler. Anything else than an allow never
 * reaches the handler: a check that failed (CTP unreachable in introspect mode, an envelope that is
 * not valid) goes to the app's error handler through `next(error)`, a CtpApiError or CtpError.
 */
export function requireConsent(options: RequireConsentOptions) {
  if ((options.validator === undefined) === (options.client === undefined)) throw new TypeError('requireConsent needs exactly one of validator or client');
  const mode = options.validator ? 'local' : 'introspect';
  const metrics = metricsFor(options.registry ?? defaultRegistry);
  const readToken = options.token ?? ((req: ConsentRequest) => {
    const value = req.headers[TOKEN_HEADER_KEY];
    return typeof value === 'string' && value !== '' ? value : undefined;
  });
  // One frozen envelope per context: its hash is computed once, not per request. `ts` is not hashed.
  const envelopes = new Map<string, Readonly<ContextEnvelope>>();
  const envelopeFor = (context: EnvelopeContext): Readonly<ContextEnvelope> => {
    const key = `${context.channel}\u0000${context.processor}\u0000${context.retention}\u0000${context.jurisdiction}\u0000${context.ui_copy_id}`;
    let envelope = envelopes.get(key);
    if (!envelope) {
      envelope = consentEnvelope({ ...context, purpose: options.purpose, features: [...options.features], ts: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
      if (envelopes.size >= MAX_REMEMBERED_ENVELOPES) envelopes.delete(envelopes.keys().next().value!);
      envelopes.set(key, envelope);
    }
    return envelope;
  };

  return (req: ConsentRequest, res: ServerResponse, next: (error?: unknown) => void): void => {
    const started = performance.now();
    const finish = (decision: 'allow' | 'deny', reason: string) => {
      metrics.decisions.inc({ decision, reason, mode });
      metrics.latency.observe({ mode }, (performance.now() - started) / 1000);
    };
    void (async () => {
      const token = await readToken(req);
      if (token === undefined) {
        finish('deny', 'consent_missing');
        return sendConsentDenied(res, 'consent_missing');
      }
      const envelope = envelopeFor(typeof options.envelope === 'function' ? await options.envelope(req) : options.envelope);
      const result = options.validator ? await options.validator.decide(token, envelope) : await options.client!.introspect(token, envelope);
      if (result.decision !== 'allow') {
        finish('deny', result.reason ?? 'unknown');
        return sendConsentDenied(res, result.reason ?? 'malformed');
      }
      finish('allow', 'none');
      req.consent = { ...result, mode };
      next();
    })().catch(next);
  };
}
