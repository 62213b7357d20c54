import { readFileSync } from 'node:fs';
import { GUIDE_ENVELOPE } from '@ctp/testing';
import { quantile } from '../bench/loadgen.mjs';
import { IngressClient } from './client';
import type { Topology } from './topology';

/**
 * Issue 15.5, revocation push across replicas: tokens issued (alternately by the two issuers) and
 * checked active on both introspectors, then revoked one at a time through the Ingress (nginx picks
 * the broadcaster; its access log says which one answered). From the `/revoke` response, each
 * introspector replica is polled directly, back to back, until it answers `revoked`: the time per
 * introspector, and for all of them (the later one), is the push latency. Bounded: `count`
 * revocations or `budgetMs`, whichever comes first; a revocation not seen within 10 s fails the leg.
 */
const ENVELOPE = GUIDE_ENVELOPE;
const SEEN_WITHIN_MS = 10_000;

export interface Quantiles {
  samples: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
}

export interface PushResult {
  revocations: number;
  /** Per introspector replica (by name), and `all introspectors` (the later of them per revocation). */
  latency: Record<string, Quantiles>;
  /** `all introspectors` latency by the broadcaster replica that answered the `/revoke` (nginx's upstream). */
  byBroadcaster: Record<string, Quantiles>;
  /** One `/introspect` round trip (median of the polls): the resolution of the figures. */
  poll_rtt_p50_ms: number;
  polls_per_revocation_p50: number;
  /** Wall time of the leg: issuing and checking the tokens, then the revocations. */
  duration_ms: number;
}

const round = (x: number) => Math.round(x * 100) / 100;
export function quantiles(xs: number[]): Quantiles {
  const s = [...xs].sort((a, b) => a - b);
  return { samples: s.length, p50_ms: round(quantile(s, 0.5)), p95_ms: round(quantile(s, 0.95)), p99_ms: round(quantile(s, 0.99)), max_ms: round(s[s.length - 1] ?? NaN) };
}

/** The upstream (replica port) nginx logged for each `x-ctp-bench-seq`; the last one tried when it retried. */
function upstreamsBySeq(accessLog: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of readFileSync(accessLog, 'utf8').split('\n')) {
    const match = /^(push-\d+) (.+) \d{3} \/revoke$/.exec(line);
    const port = match?.[2]!.split(/[,:]\s*/).pop();
    if (match && port && /^\d+$/.test(port)) out.set(match[1]!, Number(port));
  }
  return out;
}

export async function revocationPush(topology: Topology, options: { count: number; budgetMs: number }): Promise<PushResult> {
  if (!topology.ingressAccessLog) throw new Error('the push leg needs the topology started with ingressAccessLog');
  const replicas = (service: string) => topology.replicas.filter((r) => r.service === service);
  const issuers = replicas('issuer').map((r) => new IngressClient(`http://127.0.0.1:${r.port}`));
  const introspectors = replicas('introspector').map((r) => ({ name: r.name, client: new IngressClient(`http://127.0.0.1:${r.port}`) }));
  const ingress = new IngressClient(topology.url, topology.ca);
  const rtts: number[] = [];
  const polls: number[] = [];
  const started = Date.now();

  /** Polls one introspector back to back until it denies the token as revoked; ms since `t0`. */
  const seen = async (client: IngressClient, token: string, t0: number): Promise<number> => {
    for (let n = 1; ; n++) {
      const sent = performance.now();
      const { body } = await client.post('/introspect', { token, context_envelope: ENVELOPE });
      const at = performance.now();
      rtts.push(at - sent);
      if (body.reason === 'revoked') {
        polls.push(n);
        return at - t0;
      }
      if (body.decision !== 'allow' || at - t0 > SEEN_WITHIN_MS) throw new Error(`push: introspector answered ${JSON.stringify(body)} ${Math.round(at - t0)} ms after the revoke`);
    }
  };

  try {
    const tokens: { jti: string; token: string }[] = [];
    for (let i = 0; i < options.count; i++) {
      const res = await issuers[i % issuers.length]!.post('/issue', ENVELOPE);
      if (res.status !== 200) throw new Error(`push: /issue answered ${res.status}`);
      const { jti, token } = res.body as { jti: string; token: string };
      for (const { name, client } of introspectors) {
        const decision = await client.post('/introspect', { token, context_envelope: ENVELOPE });
        if (decision.body.decision !== 'allow') throw new Error(`push: ${name} did not allow a fresh token: ${JSON.stringify(decision.body)}`);
      }
      tokens.push({ jti, token });
    }
    rtts.length = 0;

    const samples: { seq: string; each: number[] }[] = [];
    const deadline = Date.now() + options.budgetMs;
    for (const [i, { jti, token }] of tokens.entries()) {
      if (Date.now() > deadline) break;
      const seq = `push-${i}`;
      const res = await ingress.post('/revoke', { jti, reason: 'user_revoked' }, 5_000, { 'x-ctp-bench-seq': seq });
      if (res.status !== 200) throw new Error(`push: /revoke through the Ingress answered ${res.status}`);
      const t0 = performance.now();
      samples.push({ seq, each: await Promise.all(introspectors.map(({ client }) => seen(client, token, t0))) });
    }

    // nginx writes the log line as each request completes: give the last one a moment.
    await new Promise((r) => setTimeout(r, 500));
    const upstream = upstreamsBySeq(topology.ingressAccessLog);
    const broadcasterName = new Map(replicas('revocation-broadcaster').map((r) => [r.port, r.name]));
    const latency: Record<string, Quantiles> = {};
    for (const [k, { name }] of introspectors.entries()) latency[name] = quantiles(samples.map((s) => s.each[k]!));
    latency['all introspectors'] = quantiles(samples.map((s) => Math.max(...s.each)));
    const groups = new Map<string, number[]>();
    for (const s of samples) {
      const port = upstream.get(s.seq);
      const name = (port !== undefined && broadcasterName.get(port)) || 'unknown (not in the access log)';
      groups.set(name, [...(groups.get(name) ?? []), Math.max(...s.each)]);
    }
    const sortedRtts = [...rtts].sort((a, b) => a - b);
    const sortedPolls = [...polls].sort((a, b) => a - b);
    return {
      revocations: samples.length,
      latency,
      byBroadcaster: Object.fromEntries([...groups].sort(([a], [b]) => a.localeCompare(b)).map(([name, xs]) => [name, quantiles(xs)])),
      poll_rtt_p50_ms: round(quantile(sortedRtts, 0.5)),
      polls_per_revocation_p50: quantile(sortedPolls, 0.5),
      duration_ms: Date.now() - started,
    };
  } finally {
    ingress.close();
    for (const c of [...issuers, ...introspectors.map((x) => x.client)]) c.close();
  }
}
