import { Router } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DENY_REASON_CODES } from '@ctp/ctp-core';
import { FastCounter, FastHistogram } from './series';

/**
 * One registry per process, holding every CTP metric under the integration guide's
 * names (§7). A service only moves the metrics of what it does; `ctp up` runs all
 * services in one process and so exports all of them from one /metrics.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

/** Resolves 100 µs .. 50 ms, where the 10 ms SLO and the 2 ms target live. */
export const VALIDATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05];
/** Resolves 500 µs .. 2.5 s: HTTP request durations (ctp_http_request_duration_seconds). */
export const HTTP_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Resolves 1 ms .. 10 s, around the 1 s push and 5 s pull targets. */
export const PROPAGATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 7.5, 10];

// The metrics every request moves are FastCounter / FastHistogram (series.ts): the same
// exposition, without a label object hashed per call.
export const validationLatency = new FastHistogram({
  name: 'ctp_token_validation_latency_seconds',
  help: 'Time to decide one /introspect request (body parsed to decision).',
  buckets: VALIDATION_BUCKETS,
  registers: [registry],
});

export const validationErrors = new FastCounter({
  name: 'ctp_validation_errors_total',
  help: 'Introspections that ended in deny, by reason (the error-code registry).',
  labelNames: ['reason'] as const,
  registers: [registry],
});
// Every reason exists from the start, so error-ratio rules have a 0 rather than no data.
for (const reason of DENY_REASON_CODES) validationErrors.metric.inc({ reason }, 0);

export const introspections = new FastCounter({
  name: 'ctp_introspections_total',
  help: 'Introspections decided, by decision.',
  labelNames: ['decision'] as const,
  registers: [registry],
});
// Series exist from the start, so the SLO ratios read 0 and the absent() alerts see a live target.
for (const decision of ['allow', 'deny']) introspections.metric.inc({ decision }, 0);

export const revocationPropagation = new Histogram({
  name: 'ctp_revocation_propagation_seconds',
  help: 'Receipt time minus revocation time, observed by each receiver, by channel (push or pull).',
  labelNames: ['channel'] as const,
  buckets: PROPAGATION_BUCKETS,
  registers: [registry],
});
for (const channel of ['push', 'pull']) revocationPropagation.zero({ channel });

export const consentIssued = new FastCounter({
  name: 'ctp_consent_issued_total',
  help: 'Consent tokens issued.',
  labelNames: ['partner'] as const,
  registers: [registry],
});

export const consentRevoked = new Counter({
  name: 'ctp_consent_revoked_total',
  help: 'Consent revocations accepted (first revocation of a jti only).',
  labelNames: ['partner'] as const,
  registers: [registry],
});

export const consentFunnelEvents = new Counter({
  name: 'ctp_consent_funnel_events_total',
  help: 'Consent-dialog outcomes reported by partners (POST /funnel-events), by partner and outcome (shown, agreed, declined, revoked).',
  labelNames: ['partner', 'outcome'] as const,
  registers: [registry],
});

export const revocationStale = new Gauge({
  name: 'ctp_revocation_view_stale',
  help: '1 while this introspector cannot prove its revocation view is fresh (it then denies).',
  registers: [registry],
});

export const decisionsDropped = new Counter({
  name: 'ctp_introspection_decisions_dropped_total',
  help: 'Introspection decisions dropped before reaching the ledger: the buffer was full while the bus refused them.',
  registers: [registry],
});
decisionsDropped.inc(0);

export const decisionsBuffered = new Gauge({
  name: 'ctp_introspection_decisions_buffered',
  help: 'Introspection decisions waiting to be published to the ledger.',
  registers: [registry],
});

export const revocationPushSilent = new Gauge({
  name: 'ctp_revocation_push_silent',
  help: '1 while revocations do not reach this introspector over the bus and it relies on pulling the revocation list; 0 while push delivers (and in processes without a revocation view).',
  registers: [registry],
});

export const pushStreamsRefused = new Counter({
  name: 'ctp_push_streams_refused_total',
  help: 'SSE and WebSocket push streams refused with 429 too_many_streams because the partner already held its maximum, by partner.',
  labelNames: ['partner'] as const,
  registers: [registry],
});

export const rateLimited = new Counter({
  name: 'ctp_rate_limited_total',
  help: 'Requests refused with 429 by the per-partner rate limits, by endpoint class and partner.',
  labelNames: ['endpoint', 'partner'] as const,
  registers: [registry],
});

export const rateLimitFallbacks = new Counter({
  name: 'ctp_rate_limit_store_errors_total',
  help: 'Rate-limit decisions taken by the in-process fallback because the shared store (Redis) failed.',
  registers: [registry],
});
rateLimitFallbacks.inc(0);

export const clockOffset = new Gauge({
  name: 'ctp_clock_offset_seconds',
  help: 'Peer clock (Redis TIME) minus this process clock, at the last measurement.',
  registers: [registry],
});

export function metricsRouter(): Router {
  // Strict like every service router (apiRouter in @ctp/http, which depends on this library).
  const router = Router({ caseSensitive: true, strict: true });
  // Express would answer OPTIONS itself (200 "GET, HEAD"); leave this router before it
  // does, so OPTIONS reaches the service's 404 like every other method, as the API documents.
  router.options('/metrics', (_req, _res, next) => next('router'));
  router.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  return router;
}

export const httpRequests = new FastCounter({
  name: 'ctp_http_requests_total',
  help: 'HTTP requests answered, by route template, method and status.',
  labelNames: ['route', 'method', 'status'] as const,
  registers: [registry],
});

export const httpDuration = new FastHistogram({
  name: 'ctp_http_request_duration_seconds',
  help: 'HTTP request duration until the response is finished, by route template and method.',
  labelNames: ['route', 'method'] as const,
  buckets: HTTP_DURATION_BUCKETS,
  registers: [registry],
});

export const buildInfo = new Gauge({
  name: 'ctp_build_info',
  help: 'Always 1; labels carry the version and the Node.js runtime.',
  labelNames: ['version', 'node'] as const,
  registers: [registry],
});
buildInfo.set({ version: process.env.npm_package_version ?? '0.1.0', node: process.version }, 1);

export const clientAborts = new Counter({
  name: 'ctp_http_client_aborts_total',
  help: 'Requests whose client went away before its body was read: a client event, not a server error.',
  registers: [registry],
});

// Ledger metrics join the registry only in processes that run a ledger writer, so
// other services never export a misleading ctp_ledger_integrity_ok 0.
export const ledgerAppendLatency = new Histogram({
  name: 'ctp_ledger_append_latency_seconds',
  help: 'Time to append one batch of ledger entries (one database transaction).',
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  registers: [],
});

export const ledgerEntries = new Counter({
  name: 'ctp_ledger_entries_total',
  help: 'Ledger entries appended, by type.',
  labelNames: ['type'] as const,
  registers: [],
});

export const ledgerIntegrityOk = new Gauge({
  name: 'ctp_ledger_integrity_ok',
  help: '1 while the last integrity check found the hash chain and checkpoint chain intact, else 0.',
  registers: [],
});

export const ledgerChainBreaks = new Counter({
  name: 'ctp_ledger_chain_breaks_total',
  help: 'Integrity checks that found a broken hash chain or an inconsistent checkpoint.',
  registers: [],
});

export const ledgerTreeSize = new Gauge({
  name: 'ctp_ledger_tree_size',
  help: 'Entries in the ledger Merkle tree, and in the latest signed checkpoint.',
  labelNames: ['of'] as const,
  registers: [],
});

export const ledgerAnchors = new Counter({
  name: 'ctp_ledger_anchors_total',
  help: 'RFC 3161 anchoring attempts of signed checkpoints, by result (ok, failed).',
  labelNames: ['result'] as const,
  registers: [],
});

export const ledgerAnchorInterval = new Gauge({
  name: 'ctp_ledger_anchor_interval_seconds',
  help: 'Configured period between RFC 3161 anchors (CTP_LEDGER_ANCHOR_INTERVAL_MS); absent without anchoring.',
  registers: [],
});

export const ledgerLastAnchor = new Gauge({
  name: 'ctp_ledger_last_anchor_timestamp_seconds',
  help: 'genTime of the newest RFC 3161 anchor of a checkpoint (Unix seconds); absent until one exists.',
  registers: [],
});

export const ledgerTierEntries = new Gauge({
  name: 'ctp_ledger_tier_entries',
  help: 'Ledger entries per storage tier (hot, warm, cold; expired: retention ended, leaf hashes kept), as of the last retention run.',
  labelNames: ['tier'] as const,
  registers: [],
});

export const ledgerRetentionRuns = new Counter({
  name: 'ctp_ledger_retention_runs_total',
  help: 'Ledger retention job runs, by outcome (ok, error).',
  labelNames: ['outcome'] as const,
  registers: [],
});

let ledgerMetricsRegistered = false;
export function registerLedgerMetrics(): void {
  if (ledgerMetricsRegistered) return;
  ledgerMetricsRegistered = true;
  registry.registerMetric(ledgerAppendLatency);
  registry.registerMetric(ledgerEntries);
  registry.registerMetric(ledgerIntegrityOk);
  registry.registerMetric(ledgerChainBreaks);
  registry.registerMetric(ledgerTreeSize);
  registry.registerMetric(ledgerAnchors);
  registry.registerMetric(ledgerLastAnchor);
  registry.registerMetric(ledgerAnchorInterval);
  registry.registerMetric(ledgerTierEntries);
  registry.registerMetric(ledgerRetentionRuns);
  // Both outcomes exist from the start, so increase() sees the first failure of a fresh process.
  for (const result of ['ok', 'failed']) ledgerAnchors.inc({ result }, 0);
  for (const outcome of ['ok', 'error']) ledgerRetentionRuns.inc({ outcome }, 0);
}

// The in-process bus (`ctp up`) exports its size; processes on NATS JetStream have none to export.
/** What the in-process bus holds per stream, read when Prometheus scrapes (never per event). */
export type BusStreamsReader = () => Iterable<{ stream: string; events: number; bytes: number }>;
let busStreams: BusStreamsReader | undefined;

const busStreamEvents = new Gauge({
  name: 'ctp_bus_stream_events',
  help: 'Events the in-process bus (ctp up) holds, by stream; bounded like a JetStream max_msgs limit (the oldest are discarded).',
  labelNames: ['stream'] as const,
  registers: [],
  collect() {
    this.reset();
    for (const s of busStreams?.() ?? []) this.set({ stream: s.stream }, s.events);
  },
});

const busStreamBytes = new Gauge({
  name: 'ctp_bus_stream_bytes',
  help: 'Bytes of events the in-process bus (ctp up) holds, by stream; bounded like a JetStream max_bytes limit.',
  labelNames: ['stream'] as const,
  registers: [],
  collect() {
    this.reset();
    for (const s of busStreams?.() ?? []) this.set({ stream: s.stream }, s.bytes);
  },
});

let busMetricsRegistered = false;
/** Exports the in-process bus gauges, read from `read` at each scrape (the bus created last is the one exported). */
export function registerBusMetrics(read: BusStreamsReader): void {
  busStreams = read;
  if (busMetricsRegistered) return;
  busMetricsRegistered = true;
  registry.registerMetric(busStreamEvents);
  registry.registerMetric(busStreamBytes);
}

export const signingKeyAge = new Gauge({
  name: 'ctp_signing_key_age_seconds',
  help: 'How long the active token signing key has been signing (the scheduled key-age check sets it).',
  registers: [registry],
});

export const signingKeyRotationPeriod = new Gauge({
  name: 'ctp_signing_key_rotation_period_seconds',
  help: 'The rotation policy: the active signing key is due for rotation at this age (default 90 days).',
  registers: [registry],
});

export const signingKeys = new Gauge({
  name: 'ctp_signing_keys',
  help: 'Token signing key versions by state (pending, active, retiring, retired, revoked).',
  labelNames: ['status'] as const,
  registers: [registry],
});

/** A bus reader whose lag /metrics reports: its labels and how to measure it. */
interface LagProbe {
  labels: { consumer: string; stream: string };
  measure: () => Promise<{ pending: number; oldestPendingMs: number | null }>;
}
const lagProbes = new Set<LagProbe>();
let lagSample: { atMs: number; done: Promise<void> } | undefined;

/**
 * Measures every registered reader once per scrape (both lag gauges share the sample) with a 2 s
 * deadline. Readers with the same labels (two revocation views in one process) report the furthest
 * behind; labels none of whose readers could be measured (bus down) have no series until they can.
 */
function sampleLag(): Promise<void> {
  const now = Date.now();
  if (lagSample && now - lagSample.atMs < 1_000) return lagSample.done;
  const done = (async () => {
    const measured = await Promise.all(
      [...lagProbes].map(async (probe) => {
        try {
          return { probe, lag: await Promise.race([probe.measure(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 2_000).unref())]) };
        } catch {
          return { probe, lag: undefined };
        }
      }),
    );
    const byLabels = new Map<string, { labels: LagProbe['labels']; pending: number; ageSeconds: number; ok: boolean }>();
    for (const { probe, lag } of measured) {
      const key = `${probe.labels.consumer}\0${probe.labels.stream}`;
      const entry = byLabels.get(key) ?? { labels: probe.labels, pending: 0, ageSeconds: 0, ok: false };
      if (lag) {
        entry.ok = true;
        entry.pending = Math.max(entry.pending, lag.pending);
        entry.ageSeconds = Math.max(entry.ageSeconds, lag.oldestPendingMs === null ? 0 : Math.max(0, Date.now() - lag.oldestPendingMs) / 1000);
      }
      byLabels.set(key, entry);
    }
    for (const { labels, pending, ageSeconds, ok } of byLabels.values()) {
      if (ok) {
        consumerPending.set(labels, pending);
        consumerOldestAge.set(labels, ageSeconds);
      } else {
        consumerPending.remove(labels);
        consumerOldestAge.remove(labels);
      }
    }
  })();
  lagSample = { atMs: now, done };
  return done;
}

export const consumerPending = new Gauge({
  name: 'ctp_bus_consumer_pending_messages',
  help: 'Events a bus reader has not yet handled (a durable consumer: not acknowledged), by consumer and stream.',
  labelNames: ['consumer', 'stream'] as const,
  registers: [registry],
  async collect() {
    await sampleLag();
  },
});

export const consumerOldestAge = new Gauge({
  name: 'ctp_bus_consumer_oldest_pending_age_seconds',
  help: 'Age of the oldest event a bus reader has not yet handled (0 when none), by consumer and stream.',
  labelNames: ['consumer', 'stream'] as const,
  registers: [registry],
  async collect() {
    await sampleLag();
  },
});

/** Reports a bus reader's lag on /metrics until the returned function is called. */
export function watchConsumerLag(labels: LagProbe['labels'], measure: LagProbe['measure']): () => void {
  const probe = { labels, measure };
  lagProbes.add(probe);
  lagSample = undefined;
  return () => {
    lagProbes.delete(probe);
    consumerPending.remove(labels);
    consumerOldestAge.remove(labels);
  };
}
