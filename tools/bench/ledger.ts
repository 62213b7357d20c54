// Ledger benchmarks (issue: tamper-evident ledger). Real NATS JetStream and
// PostgreSQL at 127.0.0.1; bounded counts; loopback only. The writer runs with the
// settings a deployment gets by default (libs/config ledgerEnv), beside the previous
// default batch cap of 256 as the baseline in the same run.
// Run: npm run bench:ledger  (add --quick for a smoke run)
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { NatsBus } from '@ctp/bus';
import { ledgerEnv, ledgerOptions, readConfig } from '@ctp/config';
import { leafHash, NoteSigner, NoteVerifier } from '@ctp/ledger-core';
import { LEDGER_STREAM_SPEC, ledgerSubject, REVOCATION_STREAM_SPEC } from '@ctp/events';
import { buildPack, LedgerStore, LedgerWriter, verifyPackFile } from '@ctp/ledger';
import { freePort } from '@ctp/testing';
import { paced, type PacedResult } from './loadgen.mjs';

const QUICK = process.argv.includes('--quick');
const N_APPEND = QUICK ? 20_000 : 200_000;
const STEADY_RATE = QUICK ? 2_000 : 5_000;
const STEADY_SECONDS = QUICK ? 3 : 10;
const TREE_SIZE = QUICK ? 100_000 : 1_000_000;
const PG_URL = process.env.CTP_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROOT = join(__dirname, '../..');
/** What a writer gets with no CTP_LEDGER_* variable set. */
const DEFAULTS = ledgerOptions(readConfig(z.object(ledgerEnv), {}));
const latencySummary = (r: PacedResult) => ({ p50: round(r.p50_ms, 3), p99: round(r.p99_ms, 3), requests: r.samples, failed: r.bad_responses + r.errors });
/** Rounds of the proof measurement (each: proofs and the floor, 4 s apiece at 1,000/s after 1 s of warm-up). */
const PROOF_ROUNDS = QUICK ? 1 : 5;

/** Runs `measure` against tools/bench/floor-server.mjs (bare express 5) in its own process. */
async function withFloorServer<T>(measure: (port: number) => Promise<T>): Promise<T> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(__dirname, 'floor-server.mjs')], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`floor server exited with ${code}`)));
    });
    return await measure(port);
  } finally {
    child.kill('SIGTERM');
  }
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]) => quantile(xs, 0.5);
/** Median p50 and p99 over rounds; requests and failures summed. */
const medianSummary = (rs: PacedResult[]) => ({
  p50: round(median(rs.map((r) => r.p50_ms)), 3),
  p99: round(median(rs.map((r) => r.p99_ms)), 3),
  requests: rs.reduce((n, r) => n + r.samples, 0),
  failed: rs.reduce((n, r) => n + r.bad_responses + r.errors, 0),
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function publishAll(bus: NatsBus, n: number, tag: string, onPublished?: (id: string) => void) {
  const window = 2000;
  for (let i = 0; i < n; i += window) {
    await Promise.all(
      Array.from({ length: Math.min(window, n - i) }, (_, j) => {
        const id = `bench-${tag}-${i + j}`;
        onPublished?.(id);
        return bus.publish(ledgerSubject('consent.issued'), { event_id: id, type: 'consent.issued', jti: `${tag}-${i + j}`, purpose: 'customer_retention', sub: 'pseudonym', scope: ['tone.read'] });
      }),
    );
  }
}

async function main() {
  const run = randomBytes(4).toString('hex');
  const signer = new NoteSigner('ctp.bench/ledger', generateKeyPairSync('ed25519').privateKey);
  const bus = await NatsBus.connect({ servers: 'nats://127.0.0.1:4222', name: 'bench-ledger' });
  await bus.ensureStreams([LEDGER_STREAM_SPEC, REVOCATION_STREAM_SPEC]);
  const store = await LedgerStore.open(PG_URL, { schema: `bench_${run}`, max: 4 });
  const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, quick: QUICK };
  try {
    // 1. Sustained append: a backlog of N events on JetStream drained into PostgreSQL.
    const startedAt = Date.now();
    let t = performance.now();
    await publishAll(bus, N_APPEND, `a${run}`);
    results.publish = { events: N_APPEND, per_s: Math.round(N_APPEND / ((performance.now() - t) / 1000)) };
    const appendRuns: Record<string, unknown>[] = [];
    for (const [label, batchSize] of [['cap 256 (the previous default)', 256], ['defaults', DEFAULTS.batchSize]] as const) {
      const schemaStore = await LedgerStore.open(PG_URL, { schema: `bench_${run}_b${batchSize}`, max: 4 });
      const writer = new LedgerWriter({
        store: schemaStore, bus, signers: [signer], origin: 'ctp.bench/ledger', durable: `bench-${run}-${batchSize}`, fromTimeMs: startedAt,
        batchSize, maxWaitMs: DEFAULTS.batchWaitMs, checkpointIntervalMs: DEFAULTS.checkpointIntervalMs,
      });
      t = performance.now();
      await writer.start();
      while (writer.tree.size < N_APPEND) await sleep(20);
      const seconds = (performance.now() - t) / 1000;
      await writer.stop();
      appendRuns.push({ label, batch_size: batchSize, entries: N_APPEND, seconds: round(seconds), per_s: Math.round(N_APPEND / seconds) });
      if (label === 'defaults') results.verify = await verifyExported(schemaStore, writer, signer, startedAt);
      await schemaStore.close();
    }
    results.append = appendRuns;

    // 2. Event-to-checkpoint latency under a steady stream.
    const published = new Map<string, number>();
    const writer = new LedgerWriter({
      store, bus, signers: [signer], origin: 'ctp.bench/ledger', durable: `bench-${run}-steady`, fromTimeMs: Date.now(),
      batchSize: DEFAULTS.batchSize, maxWaitMs: DEFAULTS.batchWaitMs, checkpointIntervalMs: DEFAULTS.checkpointIntervalMs,
    });
    await writer.start();
    const total = STEADY_RATE * STEADY_SECONDS;
    const perTick = STEADY_RATE / 20;
    const t0 = performance.now();
    for (let sent = 0, tick = 0; sent < total; tick++) {
      const batch = Math.min(perTick, total - sent);
      const epoch = Date.now();
      await publishAll(bus, batch, `s${run}-${tick}`, (id) => published.set(id, epoch));
      sent += batch;
      const due = t0 + ((tick + 1) * 1000) / 20;
      if (performance.now() < due) await sleep(due - performance.now());
    }
    while (writer.tree.size < total) await sleep(50);
    while ((writer.checkpointed?.size ?? 0) < total) await sleep(50);
    await writer.stop();
    const checkpoints = await store.checkpoints();
    const rows = await store.sql<{ seq: string; event_id: string }[]>`SELECT seq, event_id FROM ledger_entries`;
    const latencies: number[] = [];
    for (const row of rows) {
      // Only this run's events (another client of the same NATS may publish ledger events meanwhile).
      if (!published.has(row.event_id)) continue;
      const c = checkpoints.find((cp) => cp.size >= Number(row.seq))!;
      latencies.push(c.createdAt.getTime() - published.get(row.event_id)!);
    }
    results.checkpoint_latency = { events: latencies.length, rate_per_s: STEADY_RATE, period_ms: DEFAULTS.checkpointIntervalMs, checkpoints: checkpoints.length, p50_ms: quantile(latencies, 0.5), p95_ms: quantile(latencies, 0.95), max_ms: Math.max(...latencies) };

    // PostgreSQL vacuums and analyzes after the appends; on the same two cores that would land in the HTTP
    // measurement below (and not in the floor's after it), so it goes first.
    await store.sql`VACUUM ANALYZE`;
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(500)) {
      const [row] = await store.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'`;
      if (row!.n === 0) break;
    }

    // 3. Inclusion proofs served over HTTP from a tree of TREE_SIZE entries (server in its own process).
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join(__dirname, 'proof-server.ts'), String(TREE_SIZE)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const ready = await new Promise<{ url: string; build_seconds: number }>((resolve, reject) => {
      child.stdout!.once('data', (d: Buffer) => resolve(JSON.parse(String(d))));
      child.once('exit', (code) => reject(new Error(`proof server exited with ${code}`)));
    });
    const inProc: number[] = [];
    const local = new LedgerWriter({ store, bus, signers: [signer], origin: 'ctp.bench/ledger' });
    for (let i = 0; i < TREE_SIZE; i++) local.tree.append(leafHash(Buffer.from(`entry ${i}`)));
    for (let i = 0; i < 20_000; i++) {
      const seq = 1 + Math.floor(Math.random() * TREE_SIZE);
      const s = performance.now();
      local.tree.inclusionProof(seq - 1, TREE_SIZE);
      inProc.push((performance.now() - s) * 1000);
    }
    const paths = Array.from({ length: 5000 }, () => `/ledger/proofs/inclusion?seq=${1 + Math.floor(Math.random() * TREE_SIZE)}&size=${TREE_SIZE}`);
    // Open loop at 1,000 req/s with tools/bench/loadgen.mjs (microsecond timing, requests evenly
    // spaced, no coordinated omission), against the proof server and, the same way, against a
    // bare express server (GET /readyz) as the floor this machine sets for any HTTP answer. In
    // rounds, both servers up, the order alternating: a p99 over a few seconds moves with
    // whatever else the two cores do, and a round compares the two under the same conditions.
    const fixed = (port: number, path: string | ((i: number) => string)) =>
      paced({ port, path, rate: 1000, durationMs: QUICK ? 2000 : 4000, warmupMs: 1000, check: (status) => status === 200 });
    const proofPort = Number(new URL(ready.url).port);
    const rounds = await withFloorServer(async (floorPort) => {
      const out: { proof: PacedResult; floor: PacedResult }[] = [];
      for (let i = 0; i < PROOF_ROUNDS; i++) {
        const proofFirst = i % 2 === 0;
        const first = await (proofFirst ? fixed(proofPort, (k) => paths[k % paths.length]!) : fixed(floorPort, '/readyz'));
        const second = await (proofFirst ? fixed(floorPort, '/readyz') : fixed(proofPort, (k) => paths[k % paths.length]!));
        out.push(proofFirst ? { proof: first, floor: second } : { proof: second, floor: first });
      }
      return out;
    });
    child.kill('SIGTERM');
    results.inclusion = {
      tree_size: TREE_SIZE,
      tree_build_seconds: round(ready.build_seconds),
      in_process_us: { p50: round(quantile(inProc, 0.5)), p99: round(quantile(inProc, 0.99)) },
      rounds: rounds.map((r) => ({ proof: latencySummary(r.proof), floor: latencySummary(r.floor), p99_ratio: round(r.proof.p99_ms / r.floor.p99_ms) })),
      http_at_1000_rps_ms: medianSummary(rounds.map((r) => r.proof)),
      floor_at_1000_rps_ms: medianSummary(rounds.map((r) => r.floor)),
      p99_ratio: round(median(rounds.map((r) => r.proof.p99_ms / r.floor.p99_ms))),
    };
  } finally {
    // The bench's schemas (its three ledgers) go again: each run appends about 450,000 rows.
    await store.sql.unsafe(['', '_b256', `_b${DEFAULTS.batchSize}`].map((suffix) => `DROP SCHEMA IF EXISTS bench_${run}${suffix} CASCADE;`).join('\n')).catch(() => undefined);
    await store.close();
    await bus.close();
  }
  const defaultAppend = (results.append as { label: string; per_s: number }[]).find((a) => a.label === 'defaults')!.per_s;
  const cl = results.checkpoint_latency as { p95_ms: number };
  const inc = results.inclusion as { p99_ratio: number };
  const ver = results.verify as { per_s: number };
  results.targets = {
    'sustained append >= 20,000 entries/s with default settings (bus -> PostgreSQL)': defaultAppend >= 20_000,
    'event-to-checkpoint p95 <= 300 ms': cl.p95_ms <= 300,
    'inclusion proof p99 <= 1.3x the floor at 1,000/s': inc.p99_ratio <= 1.3,
    'ctp verify >= 200,000 entries/s': ver.per_s >= 200_000,
  };
  console.log(JSON.stringify(results, null, 2));
  // `npm run bench:ledger` passes --write; `-- --no-write` after it measures without touching BENCHMARKS.md.
  if (process.argv.includes('--write') && !process.argv.includes('--no-write')) writeSection(results);
}

function writeSection(r: Record<string, any>) {
  const path = join(ROOT, 'BENCHMARKS.md');
  let doc = '# Benchmarks\n';
  try {
    doc = readFileSync(path, 'utf8');
  } catch {
    // first section written
  }
  const begin = '<!-- ledger:begin -->';
  const end = '<!-- ledger:end -->';
  const pass = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const t = Object.entries(r.targets as Record<string, boolean>);
  const section = `${begin}
## Ledger (\`npm run bench:ledger\`)

Measured ${r.date} on ${r.cpu} (2 cores), Node.js ${r.node}${r.quick ? ' (quick mode)' : ''}; NATS JetStream and PostgreSQL 15
at 127.0.0.1, all on the same two cores.

| measurement | result | target |
| --- | --- | --- |
${(r.append as any[]).map((a) => `| append: ${a.entries.toLocaleString('en')}-event backlog on JetStream drained into PostgreSQL, ${a.label === 'defaults' ? `default settings (group commit, batch cap ${a.batch_size})` : `group commit, ${a.label}`} | ${a.per_s.toLocaleString('en')} entries/s (${a.seconds} s) | ${a.label === 'defaults' ? `${pass(t[0]![1])} >= 20,000/s` : `${round(r.append.find((d: any) => d.label === 'defaults').per_s / a.per_s)}x slower than the defaults`} |`).join('\n')}
| (publishing that backlog to JetStream, for scale) | ${r.publish.per_s.toLocaleString('en')} events/s | |
| event -> signed checkpoint, steady ${r.checkpoint_latency.rate_per_s}/s, default checkpoint period ${r.checkpoint_latency.period_ms} ms (${r.checkpoint_latency.events} events, ${r.checkpoint_latency.checkpoints} checkpoints) | p50 ${r.checkpoint_latency.p50_ms} ms, p95 ${r.checkpoint_latency.p95_ms} ms, max ${r.checkpoint_latency.max_ms} ms | ${pass(t[1]![1])} p95 <= 300 ms |
| inclusion proof over HTTP at 1,000 req/s, tree of ${r.inclusion.tree_size.toLocaleString('en')}, ${r.inclusion.rounds.length} rounds (${r.inclusion.http_at_1000_rps_ms.requests} requests, ${r.inclusion.http_at_1000_rps_ms.failed} failed) | median p50 ${r.inclusion.http_at_1000_rps_ms.p50} ms, p99 ${r.inclusion.http_at_1000_rps_ms.p99} ms (in process: p50 ${r.inclusion.in_process_us.p50} us, p99 ${r.inclusion.in_process_us.p99} us) | ${pass(t[2]![1])} p99 <= 1.3x the floor |
| (floor: bare express 5 \`GET /readyz\`, same load, same rounds) | median p50 ${r.inclusion.floor_at_1000_rps_ms.p50} ms, p99 ${r.inclusion.floor_at_1000_rps_ms.p99} ms; proof p99 / floor p99, median of the rounds' ratios: ${r.inclusion.p99_ratio}x (rounds: ${r.inclusion.rounds.map((x: any) => `${x.p99_ratio}x`).join(', ')}) | |
| \`ctp verify\` of a pack file of ${r.verify.entries.toLocaleString('en')} entries (${r.verify.pack_mb} MB; export took ${r.verify.export_seconds} s), median of 3 | ${r.verify.per_s.toLocaleString('en')} entries/s (${r.verify.verify_seconds} s), resident set +${r.verify.rss_growth_mb} MB | ${pass(t[3]![1])} >= 200,000/s |

Method: the writer runs with the settings a deployment gets by default (libs/config \`ledgerEnv\`); the append rate is the
drain rate of a pre-published backlog (writer start to the last entry appended), so it measures the writer and
PostgreSQL, not the publisher. Batching is group commit (libs/bus \`NatsBus.consume\`): a batch takes everything already
delivered and keeps filling only while the previous batch is still being written, up to the cap. Checkpoint latency is, per event, the signed checkpoint's
creation time minus the publish time (same clock). HTTP latencies come from tools/bench/loadgen.mjs (open loop, requests
evenly spaced at 1,000/s, timed in microseconds from the request's due time to the last byte), with the load generator on
the same two cores; proofs and the floor are measured in rounds (4 s each after 1 s of warm-up, both servers up, the order
alternating), and the target compares the median of the per-round p99 ratios; the proof server collects the garbage of building its 1,000,000-leaf tree
before it serves (steady state, as in a long-running writer). The in-process figure is the proof computation alone.
${end}`;
  doc = doc.includes(begin) ? doc.replace(new RegExp(`${begin}[\\s\\S]*${end}`), section) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(path, doc);
}

/**
 * `ctp verify` as an auditor runs it: the pack exported to a file and verified from it (slices,
 * bounded memory), median of three; the resident-set growth shows the memory bound.
 */
async function verifyExported(store: LedgerStore, writer: LedgerWriter, signer: NoteSigner, startedAt: number) {
  const dir = mkdtempSync(join(tmpdir(), 'ctp-bench-pack-'));
  try {
    const tPack = performance.now();
    const pack = await buildPack({ store, view: writer, verifiers: [signer.verifier], origin: 'ctp.bench/ledger' }, new Date(startedAt - 60_000), new Date(Date.now() + 60_000));
    const packSeconds = (performance.now() - tPack) / 1000;
    const file = join(dir, 'pack.zip');
    writeFileSync(file, pack);
    const trustedKeys = [NoteVerifier.parse(signer.verifier.toString())];
    const times: number[] = [];
    let entries = 0;
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    // Sampled from the verifier's progress callback: it runs synchronously between reads.
    const sample = () => (peak = Math.max(peak, process.memoryUsage().rss));
    for (let i = 0; i < 3; i++) {
      const tv = performance.now();
      entries = (await verifyPackFile(file, { trustedKeys, onProgress: sample })).entries;
      times.push((performance.now() - tv) / 1000);
      sample();
    }
    const vs = quantile(times, 0.5);
    return { entries, pack_mb: round(pack.length / 1e6), export_seconds: round(packSeconds), verify_seconds: round(vs, 3), per_s: Math.round(entries / vs), rss_growth_mb: round((peak - rss0) / 1e6, 1) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
