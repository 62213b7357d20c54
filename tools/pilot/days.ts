// The five days of the spec's pilot plan, each writing its artefacts under its own directory.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { countFlaps, DEFAULT_BREAKER_OPTIONS, type BreakerState, type BreakerTransition } from '@ctp/guard';
import { REPO_ROOT, waitFor } from '@ctp/testing';
import { renderChart, type Band, type Rgb } from '../../apps/ctp/src/pilot/png';
import { fetchReceiptEvidence, verifyReceiptEvidence, type ReceiptEvidence } from '../../apps/demo-processor/src/evidence';
import { FAULTS, FLAP_WINDOW_MS, PILOT_BREAKER, type PilotScale } from './plan';
import type { PilotStack } from './stack';
import { boundToken, call, callFor, callMany, logLine, recover, type CallSpec, type Sample } from './traffic';

const run = promisify(execFile);
const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
const writeLog = (path: string, samples: readonly Sample[]) => writeFileSync(path, samples.map(logLine).join('\n') + '\n');

export interface DayContext {
  stack: PilotStack;
  scale: PilotScale;
  /** The day's directory. */
  dir: string;
  progress: (line: string) => void;
}

/** The ledger's checkpoint verifier keys (what a security lead pins). */
export async function ledgerKeys(ctpUrl: string): Promise<{ name: string; alg: string; vkey: string }[]> {
  return ((await (await fetch(`${ctpUrl}/ledger/verifiers`)).json()) as { keys: { name: string; alg: string; vkey: string }[] }).keys;
}

/** A receipt's evidence once the forwarder moved it and a checkpoint covers it. */
async function evidenceOf(stack: PilotStack, id: string): Promise<ReceiptEvidence> {
  let evidence: ReceiptEvidence | null = null;
  await waitFor(async () => {
    await stack.parts.forwarder.flush();
    return (evidence = await fetchReceiptEvidence(stack.ctpUrl, id)) !== null;
  }, 30_000, `receipt ${id} under a signed checkpoint`);
  return evidence!;
}

export interface Day1Result {
  baseline: Sample[];
  mismatches: Sample[];
}

/** Day 1: setup and handshake: signed requests at baseline (log + a receipt), and binding mismatches. */
export async function day1({ stack, scale, dir, progress }: DayContext): Promise<Day1Result> {
  const { es256, ed25519 } = stack.keys;
  const token = await boundToken(stack, es256);
  const url = `${stack.processorUrl}/v1/analyse`;
  const baseline = await callMany(stack, { url, key: es256, token, label: 'baseline' }, scale.baselineRequests, scale.concurrency);
  // Binding mismatches: the token bound to the ES256 key signed with the partner's other key (key binding),
  // and a correctly signed request relayed by a TLS man in the middle (channel binding).
  const half = Math.ceil(scale.mismatches / 2);
  const keyMismatch = await callMany(stack, { url, key: ed25519, token, label: 'key_binding_mismatch' }, half, 1);
  const channelMismatch = await callMany(stack, { url: `${stack.relayUrl}/v1/analyse`, key: es256, token, label: 'channel_binding_mismatch' }, scale.mismatches - half, 1);
  const mismatches = [...keyMismatch, ...channelMismatch];
  writeLog(join(dir, 'signed-requests.jsonl'), [...baseline, ...mismatches]);
  const first = baseline.find((s) => s.status === 200 && s.receiptId);
  if (!first) throw new Error('day 1: no signed request succeeded');
  writeFileSync(join(dir, 'receipt.json'), json(await evidenceOf(stack, first.receiptId!)));
  const ok = baseline.filter((s) => s.status === 200).length;
  progress(`day 1: ${ok}/${baseline.length} signed requests served; ${mismatches.filter(blocked).length}/${mismatches.length} binding mismatches blocked`);
  return { baseline, mismatches };
}

/** A binding mismatch is blocked when the guard refuses it with the mismatch's own code. */
export const blocked = (s: Sample) => s.status === 403 && s.code === s.label;

/** Day 2: the hybrid (ES256 + ML-DSA-65) signature on the route whose policy requires it; its receipt names both algs. */
export async function day2({ stack, scale, dir, progress }: DayContext): Promise<Sample[]> {
  const { es256, mldsa } = stack.keys;
  const token = await boundToken(stack, es256);
  const url = `${stack.processorUrl}/v1/pqc/analyse`;
  const classical = await call(stack, { url, key: es256, token, label: 'classical_only' });
  const hybrid = await callMany(stack, { url, key: es256, pqKey: mldsa, token, label: 'hybrid' }, scale.hybridRequests, 1);
  writeLog(join(dir, 'signed-requests.jsonl'), [classical, ...hybrid]);
  const first = hybrid.find((s) => s.status === 200 && s.receiptId);
  if (!first) throw new Error('day 2: no hybrid request succeeded');
  const evidence = await evidenceOf(stack, first.receiptId!);
  if (!evidence.receipt.algs.includes('ML-DSA-65')) throw new Error('day 2: the hybrid receipt does not name ML-DSA-65');
  writeFileSync(join(dir, 'receipt-hybrid.json'), json(evidence));
  progress(`day 2: classical-only answered ${classical.status} ${classical.code ?? ''}; hybrid receipt ${first.receiptId} algs ${evidence.receipt.algs.join(' + ')}`);
  return [classical, ...hybrid];
}

const STATE_LEVEL: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };
const BLUE: Rgb = [31, 119, 180];
const RED: Rgb = [214, 39, 40];
const GREY: Rgb = [150, 150, 150];

/** The intervals the breaker spent open (red) and half-open (amber), from its transitions. */
function stateBands(transitions: readonly BreakerTransition[], from: number, to: number): Band[] {
  const bands: Band[] = [];
  let state: BreakerState = 'closed';
  let since = from;
  for (const t of [...transitions, { to: 'closed' as BreakerState, at: to }]) {
    if (state !== 'closed') bands.push({ from: (since - from) / 1000, to: (t.at - from) / 1000, color: state === 'open' ? [250, 200, 200] : [250, 230, 170] });
    state = t.to;
    since = t.at;
  }
  return bands;
}

function plots(dir: string, samples: readonly Sample[], transitions: readonly BreakerTransition[], from: number, to: number): void {
  const x = (at: number) => (at - from) / 1000;
  const bands = stateBands(transitions, from, to);
  const latency = samples.map((s) => [x(s.at), s.ms] as const);
  writeFileSync(join(dir, 'latency.png'), renderChart({ width: 900, height: 320, series: [{ points: latency, color: BLUE }], bands, guides: [{ y: PILOT_BREAKER.openLatencyMs ?? DEFAULT_BREAKER_OPTIONS.openLatencyMs, color: RED }] }));
  const steps: [number, number][] = [[0, 0]];
  for (const t of transitions) {
    steps.push([x(t.at), STATE_LEVEL[t.from]], [x(t.at), STATE_LEVEL[t.to]]);
  }
  steps.push([x(to), steps[steps.length - 1]![1]]);
  writeFileSync(join(dir, 'breaker-state.png'), renderChart({ width: 900, height: 200, series: [{ points: steps, color: RED }], bands, guides: [{ y: 1, color: GREY }], yMax: 2.2 }));
}

export interface Day3Result {
  samples: Sample[];
  transitions: BreakerTransition[];
  flaps: number;
  opensUnder: { latency: number; bandwidth: number };
}

/** Day 3: the breaker under induced latency, then bandwidth stress, on the processor's link to CTP. */
export async function day3({ stack, scale, dir, progress }: DayContext): Promise<Day3Result> {
  const { es256 } = stack.keys;
  const spec: CallSpec = { url: `${stack.processorUrl}/v1/analyse`, key: es256, token: await boundToken(stack, es256), label: 'baseline' };
  const { phaseSeconds: s, concurrency } = scale;
  const from = Date.now();
  const opensSince = (at: number) => stack.transitions.filter((t) => t.at >= at && t.to === 'open').length;
  const samples = await callFor(stack, spec, s.baseline, concurrency);
  const phase = async (name: 'latency' | 'bandwidth') => {
    const start = Date.now();
    stack.proxy.set(FAULTS[name]);
    samples.push(...(await callFor(stack, { ...spec, label: name }, s.fault, concurrency)));
    stack.proxy.clear();
    const opens = opensSince(start);
    samples.push(...(await recover(stack, { ...spec, label: `recovery_after_${name}` }, s.recovery, concurrency)));
    progress(`day 3: ${name} fault: breaker opened ${opens} time(s), closed again; ${stack.transitions.filter((t) => t.at >= start).length} transitions`);
    return opens;
  };
  const opensUnder = { latency: await phase('latency'), bandwidth: await phase('bandwidth') };
  const to = Date.now();
  const transitions = stack.transitions.filter((t) => t.at >= from);
  const flaps = countFlaps(transitions, FLAP_WINDOW_MS);
  writeLog(join(dir, 'requests.jsonl'), samples);
  writeFileSync(join(dir, 'breaker-transitions.json'), json({ flap_window_ms: FLAP_WINDOW_MS, flaps, breaker: PILOT_BREAKER, transitions: transitions.map((t) => ({ ...t, at: new Date(t.at).toISOString() })) }));
  plots(dir, samples, transitions, from, to);
  progress(`day 3: ${transitions.length} breaker transitions, ${flaps} flaps; plots latency.png, breaker-state.png`);
  return { samples, transitions, flaps, opensUnder };
}

export interface Day4Result {
  sampled: number;
  verified: number;
  packVerified: boolean;
}

const ctpCli = (args: string[]) => run(process.execPath, [join(REPO_ROOT, 'apps/ctp/bin/ctp.js'), ...args], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 }).then(
  ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
  (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? 1, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
);

/** Day 4: receipts sampled and verified by inclusion proof under the ledger key; the compliance pack exported and verified offline. */
export async function day4({ stack, scale, dir, progress }: DayContext, since: number): Promise<Day4Result> {
  await stack.parts.forwarder.flush();
  const vkeys = (await ledgerKeys(stack.ctpUrl)).map((k) => k.vkey);
  const all = stack.parts.receipts.between(since, Date.now() + 1);
  const step = Math.max(1, Math.floor(all.length / scale.sampledReceipts));
  const sample = all.filter((_, i) => i % step === 0).slice(0, scale.sampledReceipts);
  const checked = [];
  for (const r of sample) {
    const evidence = await evidenceOf(stack, r.receipt.id);
    checked.push({ id: r.receipt.id, decision: r.receipt.decision, leaf_index: evidence.inclusion!.leaf_index, tree_size: evidence.inclusion!.tree_size, verified: verifyReceiptEvidence(evidence, vkeys) });
  }
  const verified = checked.filter((c) => c.verified).length;
  writeFileSync(join(dir, 'sampled-receipts.json'), json({ ledger_keys: vkeys, sampled: checked.length, of: all.length, verified, receipts: checked }));
  const pack = join(dir, 'pack.zip');
  const range = ['--from', new Date(since - 60_000).toISOString(), '--to', new Date(Date.now() + 1_000).toISOString()];
  await new Promise((r) => setTimeout(r, 1_100));
  const exported = await ctpCli(['export', ...range, '--out', pack, '--url', stack.ctpUrl]);
  if (exported.code !== 0) throw new Error(`day 4: ctp export failed:\n${exported.output}`);
  const verify = await ctpCli(['verify', pack, ...vkeys.flatMap((k) => ['--key', k])]);
  writeFileSync(join(dir, 'verify.txt'), `$ ctp verify pack.zip ${vkeys.map((k) => `--key ${k}`).join(' ')}\n${verify.output}\nexit code ${verify.code}\n`);
  progress(`day 4: ${verified}/${checked.length} sampled receipts verify by inclusion proof; pack.zip ${verify.code === 0 ? 'verifies' : 'DOES NOT verify'} with the ledger key`);
  return { sampled: checked.length, verified, packVerified: verify.code === 0 };
}

/** The policy added on day 5: raise the availability floor of the analysis route. */
export const DAY5_POLICY = `
// Pilot day 5: raise the availability floor of the analysis route. While the breaker around CTP is
// open, serve it from the local validator's cached decisions (fallback) instead of failing closed.
@id("floor.analyse-degrade")
permit (principal, action == Signet::Action::"DegradeWhenOpen", resource)
when { resource.path == "/v1/analyse" };
`;

/** A unified diff of text appended at the end of a file. */
function appendDiff(file: string, before: string, added: string): string {
  const old = before.endsWith('\n') ? before.slice(0, -1).split('\n') : before.split('\n');
  const add = added.endsWith('\n') ? added.slice(0, -1).split('\n') : added.split('\n');
  const context = old.slice(-3);
  const start = old.length - context.length + 1;
  return [`--- a/${file}`, `+++ b/${file}`, `@@ -${start},${context.length} +${start},${context.length + add.length} @@`, ...context.map((l) => ` ${l}`), ...add.map((l) => `+${l}`)].join('\n') + '\n';
}

export interface Day5Result {
  /** One at a time, breaker closed, the new policy in force. */
  baseline: Sample[];
  /** One at a time, served while the breaker was open (cached local decisions). */
  relax: Sample[];
  /** Refused while the breaker was open (the local validator's revocation view too old: revocation_unavailable). */
  refused: number;
  fallbackReceipts: number;
  policyHash: { before: string; after: string };
}

/** Day 5: the policy tweak (degrade when open) and the fallback under the latency fault. */
export async function day5({ stack, scale, dir, progress }: DayContext): Promise<Day5Result> {
  const { shield, receipts } = stack.parts;
  const policyFile = join(stack.policyDir, 'shield.cedar');
  const before = readFileSync(policyFile, 'utf8');
  const hashBefore = shield.hash;
  writeFileSync(policyFile, before + DAY5_POLICY);
  shield.reload();
  writeFileSync(join(dir, 'policy.diff'), appendDiff('policy/shield.cedar', before, DAY5_POLICY));
  if (shield.decide({ method: 'POST', path: '/v1/analyse' }, 'demo').whenOpen !== 'degrade') throw new Error('day 5: the new floor is not in force');
  const { es256 } = stack.keys;
  const spec: CallSpec = { url: `${stack.processorUrl}/v1/analyse`, key: es256, token: await boundToken(stack, es256), label: 'fallback' };
  const from = Date.now();
  // Latency is compared one request at a time (no queueing): at baseline, then in relax mode.
  const baseline = await callFor(stack, { ...spec, label: 'baseline_latency' }, scale.relaxSeconds / 2, 1);
  stack.proxy.set(FAULTS.latency);
  const samples = [...baseline];
  const deadline = Date.now() + 60_000;
  while (stack.parts.breaker.state !== 'open' && Date.now() < deadline) samples.push(...(await callFor(stack, { ...spec, label: 'opening' }, 0.5, scale.concurrency)));
  samples.push(...(await callFor(stack, spec, scale.relaxSeconds / 2, 1)));
  stack.proxy.clear();
  samples.push(...(await recover(stack, { ...spec, label: 'recovery' }, 1, scale.concurrency)));
  const fallback = receipts.between(from, Date.now() + 1).filter((r) => r.receipt.decision === 'allow' && r.receipt.breaker_state !== 'closed');
  writeLog(join(dir, 'requests.jsonl'), samples);
  writeFileSync(join(dir, 'receipts-fallback.json'), json({ policy_hash_before: hashBefore, policy_hash_after: shield.hash, count: fallback.length, receipts: fallback.slice(0, 20).map((r) => r.receipt) }));
  // Relax mode: served while the breaker was open (the cached local decision), start to end.
  const relax = samples.filter((s) => s.label === 'fallback' && s.status === 200 && s.breakerBefore === 'open' && s.breakerAfter === 'open');
  progress(`day 5: policy ${hashBefore.slice(0, 12)} -> ${shield.hash.slice(0, 12)} (degrade when open); ${fallback.length} requests served by fallback, ${samples.filter((s) => s.status !== 200).length} refused`);
  const refused = samples.filter((s) => s.label === 'fallback' && s.status !== 200).length;
  return { baseline: baseline.filter((s) => s.status === 200), relax, refused, fallbackReceipts: fallback.length, policyHash: { before: hashBefore, after: shield.hash } };
}
