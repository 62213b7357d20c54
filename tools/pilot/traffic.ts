// Signed requests to the demo processor, one sample each: what the pilot logs and measures. A sample
// never holds a token, a key or a body: method, path, status, problem code, algorithms, receipt id, timing.
import type { BreakerState } from '@ctp/guard';
import { consentEnvelope, signedRequest, signingKeyThumbprint, type RequestSigningKey } from '@ctp/sdk';
import { ENVELOPE, FEATURES, PURPOSE } from '../../apps/demo-processor/src/app';
import { quantile } from '../bench/loadgen.mjs';
import { PACE_MS } from './plan';
import type { PilotStack } from './stack';

export interface Sample {
  /** Epoch ms when the request started. */
  at: number;
  ms: number;
  method: 'POST';
  url: string;
  keyid: string;
  status: number;
  code?: string;
  algs?: string[];
  receiptId?: string;
  breakerBefore: BreakerState;
  breakerAfter: BreakerState;
  label: string;
}

const TEXTS = ['Thanks, the refund is resolved, great!', 'I have been waiting for an hour, this is terrible', 'Good, happy with the new plan', 'Please cancel my order'];

/** A consent token for the demo processor's purpose, bound to `key` (cnf.jkt). */
export async function boundToken(stack: PilotStack, key: RequestSigningKey): Promise<string> {
  const ts = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const issued = await stack.client.issue(consentEnvelope({ ...ENVELOPE, purpose: PURPOSE, features: [...FEATURES], ts }), { keyBindingJkt: await signingKeyThumbprint(key) });
  return issued.token;
}

export interface CallSpec {
  url: string;
  key: RequestSigningKey;
  token: string;
  pqKey?: RequestSigningKey;
  label: string;
}

export async function call(stack: PilotStack, spec: CallSpec, n = 0): Promise<Sample> {
  const breaker = stack.parts.breaker;
  const at = Date.now();
  const started = performance.now();
  const base = { at, method: 'POST' as const, url: spec.url, keyid: spec.key.keyid, breakerBefore: breaker.state, label: spec.label };
  try {
    const res = await signedRequest(
      spec.url,
      { method: 'POST', body: JSON.stringify({ text: TEXTS[n % TEXTS.length] }), headers: { 'content-type': 'application/json' } },
      { key: spec.key, pqKey: spec.pqKey, consentToken: spec.token, tls: { ca: stack.cert.cert }, timeoutMs: 10_000 },
    );
    const ms = performance.now() - started;
    const body = JSON.parse(res.body.toString('utf8') || '{}') as { code?: string; algs?: string[] };
    const receiptId = res.headers['receipt-id'];
    return { ...base, ms, status: res.status, code: body.code, algs: body.algs, receiptId: typeof receiptId === 'string' ? receiptId : undefined, breakerAfter: breaker.state };
  } catch (error) {
    return { ...base, ms: performance.now() - started, status: 0, code: (error as Error).name, breakerAfter: breaker.state };
  }
}

/** Runs `task`, then waits out the rest of PACE_MS from its start (bounded traffic). */
async function paced<T>(task: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await task();
  await new Promise((r) => setTimeout(r, Math.max(0, started + PACE_MS - Date.now())));
  return result;
}

/** `count` calls, `concurrency` at a time. */
export async function callMany(stack: PilotStack, spec: CallSpec, count: number, concurrency: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) samples.push(await paced(() => call(stack, spec, i)));
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return samples.sort((a, b) => a.at - b.at);
}

/** Calls for `seconds` (each worker stops starting new calls after), `concurrency` at a time. */
export async function callFor(stack: PilotStack, spec: CallSpec, seconds: number, concurrency: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  const until = Date.now() + seconds * 1000;
  let n = 0;
  const worker = async () => {
    while (Date.now() < until) samples.push(await paced(() => call(stack, spec, n++)));
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return samples.sort((a, b) => a.at - b.at);
}

/** Calls until the breaker is closed (at most `timeoutSeconds`), then for `seconds` more. */
export async function recover(stack: PilotStack, spec: CallSpec, seconds: number, concurrency: number, timeoutSeconds = 60): Promise<Sample[]> {
  const samples: Sample[] = [];
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (stack.parts.breaker.state !== 'closed' && Date.now() < deadline) samples.push(...(await callFor(stack, spec, 0.5, concurrency)));
  if (stack.parts.breaker.state !== 'closed') throw new Error(`the breaker did not close within ${timeoutSeconds} s of the faults ending`);
  return [...samples, ...(await callFor(stack, spec, seconds, concurrency))];
}

export const p = (values: readonly number[], q: number) => quantile([...values].sort((a, b) => a - b), q);

/** One line of the signed-request log (JSON Lines). */
export const logLine = (s: Sample) =>
  JSON.stringify({ at: new Date(s.at).toISOString(), label: s.label, method: s.method, url: s.url, keyid: s.keyid, status: s.status, code: s.code, algs: s.algs, receipt_id: s.receiptId, ms: Math.round(s.ms * 10) / 10, breaker: s.breakerAfter });
