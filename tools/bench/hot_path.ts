// What checking a hot route's body costs: zod (parseOrThrow with the request schema) against
// the hand-written check the routes use (libs/ctp-core/src/envelope_check.ts), with JSON.parse
// of the same bodies as the baseline, measured in the same interleaved rounds.
// Run: npm run bench:body-check [-- --rounds 7 --n 100000]
import { randomUUID } from 'node:crypto';
import { introspectRequestSchema, issueRequestSchema, parseIntrospectRequest, parseIssueRequest, parseOrThrow } from '@ctp/ctp-core';

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

/** Each route's bodies: JSON.parse alone first (the baseline), then zod, then the check. */
const variants: [string, string[], (body: unknown) => unknown][] = [
  ['POST /introspect body, JSON.parse only', introspectBodies, (b) => b],
  ['POST /introspect body, zod', introspectBodies, (b) => parseOrThrow(introspectRequestSchema, b)],
  ['POST /introspect body, check', introspectBodies, parseIntrospectRequest],
  ['POST /issue body, JSON.parse only', issueBodies, (b) => b],
  ['POST /issue body, zod', issueBodies, (b) => parseOrThrow(issueRequestSchema, b)],
  ['POST /issue body, check', issueBodies, parseIssueRequest],
];

const perBody = new Map<string, number[]>(variants.map(([name]) => [name, []]));
let sink = 0;
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, bodies, parse] of round % 2 === 0 ? variants : [...variants].reverse()) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < N; i++) sink += parse(JSON.parse(bodies[i & 63]!)) === undefined ? 0 : 1;
    perBody.get(name)!.push(Number(process.hrtime.bigint() - started) / N / 1000);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`${ROUNDS} interleaved rounds of ${N.toLocaleString('en-US')} bodies each; Node.js ${process.version}; ${sink > 0 ? 'ok' : ''}`);
console.log('| body | µs per body, median (incl. JSON.parse) | beyond JSON.parse |');
console.log('| --- | --: | --: |');
variants.forEach(([name], i) => {
  const m = median(perBody.get(name)!);
  const baseline = median(perBody.get(variants[i - (i % 3)]![0])!);
  console.log(`| ${name} | ${m.toFixed(2)} | ${(m - baseline).toFixed(2)} |`);
});
