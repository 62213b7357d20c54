// Parts of the hot routes' per-request work, each against what it replaced, in the same
// interleaved rounds (median µs per request):
// - the body check: zod (parseOrThrow with the request schema) against the hand-written check
//   the routes use (libs/ctp-core/src/envelope_check.ts), JSON.parse of the same bodies as the
//   baseline;
// - the metrics of one cached introspection (HTTP count and duration, validation latency,
//   decision count): prom-client's label-object calls against the series the services use
//   (libs/telemetry/src/series.ts), each in a registry of its own.
// Run: npm run bench:hot-path [-- --rounds 7 --n 100000]
import { randomUUID } from 'node:crypto';
import { Counter, Histogram, Registry } from 'prom-client';
import { introspectRequestSchema, issueRequestSchema, parseIntrospectRequest, parseIssueRequest, parseOrThrow } from '@ctp/ctp-core';
import { HTTP_DURATION_BUCKETS, VALIDATION_BUCKETS } from '../../libs/telemetry/src/metrics';
import { FastCounter, FastHistogram } from '../../libs/telemetry/src/series';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROUNDS = arg('rounds', 7);
const N = arg('n', 100_000);

// The integration guide's envelope; a token of a real token's length (the checks only type it).
const envelope = {
  ts: '2025-11-09T20:17:00Z',
  channel: 'voice',
  features: ['tone', 'sentiment'],
  processor: 'svc://cx-ai/v1',
  purpose: 'customer_retention',
  retention: 'session_only',
  jurisdiction: 'US-KY',
  ui_copy_id: 'consent-modal-2025-11-01#en-US',
};
const introspectBodies = Array.from({ length: 64 }, () => JSON.stringify({ token: `eyJ${randomUUID()}`.padEnd(700, 'x'), context_envelope: envelope }));
const issueBodies = Array.from({ length: 64 }, (_, i) => JSON.stringify({ ...envelope, subject_ref: `user-${i}` }));
const parsing = (bodies: string[], parse: (body: unknown) => unknown) => (i: number) => parse(JSON.parse(bodies[i & 63]!));

// The four metrics of a cached introspection, with metrics.ts's buckets, once per kind.
const configs = {
  requests: { name: 'bench_http_requests_total', help: 'x', labelNames: ['route', 'method', 'status'] as const },
  duration: { name: 'bench_http_request_duration_seconds', help: 'x', labelNames: ['route', 'method'] as const, buckets: HTTP_DURATION_BUCKETS },
  latency: { name: 'bench_validation_seconds', help: 'x', buckets: VALIDATION_BUCKETS },
  decisions: { name: 'bench_introspections_total', help: 'x', labelNames: ['decision'] as const },
};
const prom = (() => {
  const registers = [new Registry()];
  const requests = new Counter({ ...configs.requests, registers });
  const duration = new Histogram({ ...configs.duration, registers });
  const latency = new Histogram({ ...configs.latency, registers });
  const decisions = new Counter({ ...configs.decisions, registers });
  return (i: number) => {
    const seconds = (i & 1023) / 1e6;
    latency.observe(seconds);
    decisions.inc({ decision: 'allow' });
    requests.inc({ route: '/introspect', method: 'POST', status: String(200) });
    duration.observe({ route: '/introspect', method: 'POST' }, seconds);
  };
})();
const series = (() => {
  const registers = [new Registry()];
  const requests = new FastCounter({ ...configs.requests, registers });
  const duration = new FastHistogram({ ...configs.duration, registers });
  const latency = new FastHistogram({ ...configs.latency, registers });
  const decisions = new FastCounter({ ...configs.decisions, registers });
  return (i: number) => {
    const seconds = (i & 1023) / 1e6;
    latency.series().observe(seconds);
    decisions.series('allow').inc();
    requests.series('/introspect', 'POST', String(200)).inc();
    duration.series('/introspect', 'POST').observe(seconds);
  };
})();

/** Groups of cases; a group's first case is its baseline. */
const groups: [string, (i: number) => unknown][][] = [
  [
    ['POST /introspect body, JSON.parse only', parsing(introspectBodies, (b) => b)],
    ['POST /introspect body, zod', parsing(introspectBodies, (b) => parseOrThrow(introspectRequestSchema, b))],
    ['POST /introspect body, check', parsing(introspectBodies, parseIntrospectRequest)],
  ],
  [
    ['POST /issue body, JSON.parse only', parsing(issueBodies, (b) => b)],
    ['POST /issue body, zod', parsing(issueBodies, (b) => parseOrThrow(issueRequestSchema, b))],
    ['POST /issue body, check', parsing(issueBodies, parseIssueRequest)],
  ],
  [
    ['metrics of a cached introspection, nothing (loop only)', (i) => i],
    ['metrics of a cached introspection, prom-client label objects', prom],
    ['metrics of a cached introspection, series', series],
  ],
];

const cases = groups.flat();
const perCase = new Map<string, number[]>(cases.map(([name]) => [name, []]));
let sink = 0;
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of round % 2 === 0 ? cases : [...cases].reverse()) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < N; i++) sink += run(i) === undefined ? 0 : 1;
    perCase.get(name)!.push(Number(process.hrtime.bigint() - started) / N / 1000);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`${ROUNDS} interleaved rounds of ${N.toLocaleString('en-US')} each; Node.js ${process.version}${sink < 0 ? '' : ''}`);
console.log('| case | µs per request, median | beyond the first of its group |');
console.log('| --- | --: | --: |');
for (const group of groups) {
  const baseline = median(perCase.get(group[0]![0])!);
  for (const [name] of group) {
    const m = median(perCase.get(name)!);
    console.log(`| ${name} | ${m.toFixed(2)} | ${(m - baseline).toFixed(2)} |`);
  }
}
