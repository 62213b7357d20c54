// The bench's report: targets (issue 16, ratios against the express floor of the same run)
// and the markdown section between <!-- core:begin --> and <!-- core:end --> in BENCHMARKS.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CFG, log, ROOT, round } from './config.mjs';

const ratio = (a, b) => (Number.isFinite(a / b) ? a / b : NaN);
const cleanClosed = (x) => x.non2xx === 0 && x.errors === 0 && (x.deny_decisions ?? 0) === 0;
const fixedClean = (f) => f.bad_responses === 0 && f.errors === 0;

/** Each target with its measured value; absent parts give no target. */
export function targets(r) {
  const out = [];
  const add = (name, value, pass) => out.push({ name, value, pass });
  const rounds = r.rounds?.summary && Object.fromEntries(r.rounds.summary.map((s) => [s.name, s]));
  if (rounds) {
    const cached = (name, min) => {
      const s = rounds[name];
      add(`${name} closed loop >= ${min}x the floor (same rounds)`, `${s.vs_floor}x`, s.vs_floor >= min && s.bad === 0);
    };
    cached('ctp up introspect, cached', 0.6);
    cached('standalone introspect, cached', 0.75);
    for (const name of ['ctp up introspect, first-seen 1,000/s', 'standalone introspect, first-seen 1,000/s']) {
      const s = rounds[name];
      add(`${name}: server CPU <= 300 µs per request`, `${s.cpu_us_per_req} µs`, s.cpu_us_per_req <= 300 && s.bad === 0);
    }
  }
  if (r.ctp?.cache_hits && r.floor) {
    const h = r.ctp.cache_hits;
    if (!rounds) add('ctp up introspect, cached, closed loop >= 0.6x the floor', `${round(ratio(h.closed.rps_median, r.floor.closed.rps_median), 2)}x`, ratio(h.closed.rps_median, r.floor.closed.rps_median) >= 0.6 && cleanClosed(h.closed));
    add('ctp up introspect p99 <= 1 ms at 1,000 req/s, cache hits', `${h.fixed.p99_ms} ms`, h.fixed.p99_ms <= 1 && fixedClean(h.fixed));
    const rr = ratio(h.search?.max_rate, r.floor.search?.max_rate);
    add('ctp up cache-hit max rate at p99 <= 10 ms >= 0.5x the floor', Number.isFinite(rr) ? `${round(rr, 2)}x` : 'n/a', rr >= 0.5);
  }
  if (r.ctp?.first_seen) add('ctp up introspect p99 <= 3 ms at 1,000 req/s, first-seen tokens', `${r.ctp.first_seen.fixed.p99_ms} ms`, r.ctp.first_seen.fixed.p99_ms <= 3 && fixedClean(r.ctp.first_seen.fixed));
  if (r.standalone) {
    const s = r.standalone;
    if (r.floor) {
      const rr = ratio(s.cache_hits.search?.max_rate, r.floor.search?.max_rate);
      add('standalone cache-hit max rate at p99 <= 10 ms >= 0.5x the floor', Number.isFinite(rr) ? `${round(rr, 2)}x` : 'n/a', rr >= 0.5);
    }
    add('standalone introspect p99 <= 3 ms at 1,000 req/s, first-seen tokens', `${s.first_seen.fixed.p99_ms} ms`, s.first_seen.fixed.p99_ms <= 3 && fixedClean(s.first_seen.fixed));
    add('standalone issuer >= 4,000 tokens/s', `${s.issue.rps_median}/s`, s.issue.rps_median >= 4000 && cleanClosed(s.issue));
  }
  if (r.ctp?.issue) {
    add('ctp up issue >= 3,000 tokens/s, fresh server (ledger included)', `${r.ctp.issue.rps_median}/s`, r.ctp.issue.rps_median >= 3000 && cleanClosed(r.ctp.issue));
    add(`ctp up issue >= 3,000 tokens/s, with ${r.ctp.later.live_tokens_before.toLocaleString('en-US')} tokens live`, `${r.ctp.later.rps_median}/s`, r.ctp.later.rps_median >= 3000 && cleanClosed(r.ctp.later));
  }
  return out;
}

const fmt = (x) => (typeof x === 'number' ? x.toLocaleString('en-US') : String(x));
const ms = (x) => (Number.isFinite(x) ? `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms` : 'n/a');
const pct = (a, b) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : 'n/a');
const cpu = (x) => (x?.server ? `${x.server.cpu_us_per_req}` : '–');
const gcText = (s) => (s ? `${s.gc_count} (${s.gc_major} major), ${s.gc_ms} ms, max ${ms(s.gc_max_ms)}` : '–');
const stepsText = (s) =>
  s.steps
    .map((x) => {
      const notes = [x.ok ? null : `p99 ${ms(x.p99_ms)}`, x.achieved < 0.97 * x.rate ? `${fmt(x.achieved)}/s` : null, x.other_cores >= 0.1 ? `other ${x.other_cores}` : null].filter(Boolean);
      return `${x.retry ? 'retry ' : ''}${fmt(x.rate)} ${x.ok ? 'ok' : 'over'}${notes.length ? ` (${notes.join(', ')})` : ''}`;
    })
    .join(', ');
const maxText = (s) => (s.max_rate === null ? `< ${fmt(CFG.rateMin)} /s` : `${s.capped ? '>= ' : ''}${fmt(s.max_rate)} /s`);
const closedRow = (label, x, vs) =>
  `| ${label} | ${fmt(x.rps_median)} (${fmt(x.rps_min)}..${fmt(x.rps_max)}) | ${fmt(x.requests)} | ${x.p50_ms} ms | ${x.p99_ms} ms | ${x.non2xx} / ${x.errors} | ${vs} | ${cpu(x)} | ${gcText(x.server)} | ${x.other_cores}${x.attempts > 1 ? ' (less disturbed of 2 runs)' : ''} |`;
const fixedRow = (label, x) =>
  `| ${label} | ${ms(x.p50_ms)} | ${ms(x.p99_ms)} (runs ${ms(x.p99_range_ms[0])}..${ms(x.p99_range_ms[1])}) | ${ms(x.p999_ms)} | ${ms(x.max_ms)} | ${x.runs} x ${fmt(x.samples_per_run[0])}${x.attempts > x.runs ? ` (least disturbed ${x.runs} of ${x.attempts} runs)` : ''} | ${x.bad_responses + x.errors} | ${cpu(x)} | ${x.server ? `${gcText(x.server)}; loop p99 ${ms(x.server.loop_p99_ms)}, max ${ms(x.server.loop_max_ms)}` : '–'} | ${x.other_cores.join(' / ')} |`;

function roundsSection(rd, lines) {
  lines.push('#### Same rounds: every shape against the floor');
  lines.push('');
  lines.push(
    `${rd.rounds} rounds; in each round every workload runs ${rd.seconds} s after a ${rd.warmup_s} s warm-up, one after the other, with every server up (idle while another is measured). Closed loop: autocannon, ${CFG.closedConnections} connections; first-seen: ${fmt(CFG.fixedRate)}/s open loop with freshly minted tokens. Each figure is the median over rounds; "vs floor" is the median of the per-round ratios. Server CPU is the serving processes' user + system time (all threads) over the run divided by the requests answered, from tools/bench/core/probe.mjs; the standalone rows add Redis's own CPU (INFO cpu). "Net of idle" subtracts the servers' background CPU, measured for 1 s idle right before each run (timers, flushes, the ledger), so a slow run on a busy machine does not inflate it.${rd.baseline_root ? ` Rows marked [baseline] run the checkout at ${rd.baseline_root} in the same rounds (A/B): each workload on both checkouts back to back, which one first alternating from round to round.` : ''} GC and event-loop delay are the servers' own (PerformanceObserver, monitorEventLoopDelay), summed / worst over rounds.`,
  );
  lines.push('');
  lines.push('| workload | req/s | vs floor | server CPU µs/req (gross) | net of idle | net vs floor | per process, gross (µs/req) | idle (cores) | p99 | GC (count, total, max pause) | loop delay p99 / max | wrong | other processes (max cores) |');
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const s of rd.summary) {
    const procs = Object.entries(s.per_process_cpu_us_per_req).map(([n, v]) => `${n} ${v}`).join(', ');
    lines.push(
      `| ${s.name} | ${fmt(s.rps_median)} | ${Number.isFinite(s.vs_floor) ? `${s.vs_floor.toFixed(2)}x` : '– (fixed rate)'} | ${s.cpu_us_per_req} | ${s.net_cpu_us_per_req} | ${s.net_cpu_vs_floor.toFixed(2)}x | ${procs} | ${s.idle_cpu_cores} | ${ms(s.p99_ms)} | ${gcText(s)} | ${ms(s.loop_p99_ms)} / ${ms(s.loop_max_ms)} | ${s.bad} | ${s.other_cores_max} |`,
    );
  }
  lines.push('');
}

export function markdown(r) {
  const f = r.floor;
  const c = r.ctp;
  const sa = r.standalone;
  const lines = [];
  lines.push('<!-- core:begin -->');
  lines.push('### Results');
  lines.push('');
  lines.push(
    `Generated by \`npm run bench\`${r.quick ? ' **(quick mode: 1/5 durations, smoke test only)**' : ''}${r.only ? ` **(only: ${r.only.join(', ')})**` : ''} on ${r.date}; Node.js ${r.node}; ${r.cpu} (${r.cores} cores, shared by server and load generator); autocannon ${r.autocannon}, express ${r.express}. Total run time ${r.total_s} s.`,
  );
  const cs = r.cpu_share;
  lines.push('');
  lines.push(
    `Machine load: ${r.cores} cores; load average ${r.loadavg_start} at the start; other processes used on average ${cs.other_processes_cores_mean} of a core during the run (p90 of 1 s intervals ${cs.other_processes_cores_p90}, max ${cs.other_processes_cores_max}; ${cs.intervals_over_10pct_core} of ${cs.intervals} intervals above 0.1 core; NATS and Redis count as other processes), hypervisor steal ${cs.steal_cores_mean} core; this benchmark's processes used ${cs.ours_cores_mean} cores on average.`,
  );
  lines.push('');
  lines.push('#### Targets');
  lines.push('');
  lines.push('| target | measured | result |');
  lines.push('| --- | --- | --- |');
  for (const t of r.targets) lines.push(`| ${t.name} | ${t.value} | **${t.pass ? 'PASS' : 'FAIL'}** |`);
  lines.push('');
  if (r.rounds) roundsSection(r.rounds, lines);
  if (f || c || sa) {
    lines.push('#### Throughput (closed loop, autocannon)');
    lines.push('');
    lines.push(`${CFG.closedConnections} connections, ${CFG.closedMs / 1000} s after a ${CFG.closedWarmupMs / 1000} s warm-up; req/s is the median of the per-second counts (min..max in brackets). Server CPU: µs of the serving process(es) per request (standalone: + Redis).`);
    lines.push('');
    lines.push('| workload | req/s median (min..max) | requests | p50 | p99 | non-2xx / errors | vs floor | server CPU µs/req | server GC (count, total, max pause) | other processes (cores) |');
    lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    const base = f?.closed.rps_median;
    if (f) lines.push(closedRow('express echo floor, POST introspect body', f.closed, '1.00x'));
    if (c) {
      const h = c.cache_hits;
      lines.push(closedRow(`CTP \`POST /introspect\` on \`ctp up\`, cache hits (pool of ${fmt(h.pool)} tokens; ${h.closed.deny_decisions} deny decisions)`, h.closed, pct(h.closed.rps_median, base)));
      lines.push(closedRow(`CTP \`POST /issue\`, fresh \`ctp up\` (${fmt(c.issue.live_tokens_after)} tokens live at the end, warm-up included; the ledger caught up ${c.issue.ledger_drain_s} s later)`, c.issue, pct(c.issue.rps_median, base)));
      lines.push(closedRow(`CTP \`POST /issue\` right after, ${fmt(c.later.live_tokens_before)} tokens already live, ${c.later.seconds} s`, c.later, pct(c.later.rps_median, base)));
    }
    if (sa) {
      lines.push(closedRow(`standalone introspector, cache hits (pool of ${fmt(sa.cache_hits.pool)}; ${sa.cache_hits.closed.deny_decisions} deny decisions)`, sa.cache_hits.closed, pct(sa.cache_hits.closed.rps_median, base)));
      lines.push(closedRow('standalone issuer `POST /issue` (NATS + Redis; no ledger writer running)', sa.issue, pct(sa.issue.rps_median, base)));
    }
    lines.push('');
    lines.push('#### Latency at a fixed 1,000 req/s (open loop, tools/bench/loadgen.mjs)');
    lines.push('');
    const any = c?.cache_hits.fixed ?? sa?.cache_hits.fixed ?? f?.fixed;
    lines.push(
      `Each row: ${CFG.fixedRuns} runs of ${CFG.fixedMs / 1000} s after a ${CFG.fixedWarmupMs / 1000} s warm-up each; p50/p99/p99.9 are medians over the runs, max is over the runs kept. Timed from request write to last response byte. A run during which other processes used more than ${CFG.busyCores} core is repeated (up to ${CFG.extraRuns} more runs) and the least disturbed runs are kept. Server CPU per request counts the warm-up requests too; GC and loop delay are the server's over the runs kept. Generator self-check: pacing lag p99 ${ms(any.pacing_lag_p99_ms)}, its own event loop delayed at most ${ms(any.gen_loop_delay_max_ms)}, its longest GC pause ${ms(any.gen_gc_max_ms)}.`,
    );
    lines.push('');
    lines.push('| workload | p50 | p99 | p99.9 | max | samples | wrong / failed | server CPU µs/req | server GC; event-loop delay | other processes (cores, per run) |');
    lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    if (f) {
      lines.push(fixedRow('raw node:net responder (machine + load generator noise floor)', f.noise));
      lines.push(fixedRow('express echo floor', f.fixed));
    }
    if (c) {
      lines.push(fixedRow(`\`ctp up\` introspect, cache hits (pool of ${fmt(c.cache_hits.pool)})`, c.cache_hits.fixed));
      lines.push(fixedRow(`\`ctp up\` introspect, first-seen tokens (${fmt(c.first_seen.tokens_per_run)} minted just before each run, each used once)`, c.first_seen.fixed));
    }
    if (sa) {
      lines.push(fixedRow('standalone introspector, cache hits', sa.cache_hits.fixed));
      lines.push(fixedRow('standalone introspector, first-seen tokens', sa.first_seen.fixed));
    }
    if (f && c) {
      lines.push(`| ratio \`ctp up\` cache hits / floor | ${pct(c.cache_hits.fixed.p50_ms, f.fixed.p50_ms)} | ${pct(c.cache_hits.fixed.p99_ms, f.fixed.p99_ms)} | ${pct(c.cache_hits.fixed.p999_ms, f.fixed.p999_ms)} | | | | | | |`);
      lines.push(`| ratio \`ctp up\` first-seen / floor | ${pct(c.first_seen.fixed.p50_ms, f.fixed.p50_ms)} | ${pct(c.first_seen.fixed.p99_ms, f.fixed.p99_ms)} | ${pct(c.first_seen.fixed.p999_ms, f.fixed.p999_ms)} | | | | | | |`);
    }
    lines.push('');
    lines.push(`#### Highest fixed rate with p99 <= ${CFG.p99LimitMs} ms (open loop)`);
    lines.push('');
    lines.push(
      `Bisection between ${fmt(CFG.rateMin)}/s and min(${fmt(CFG.rateMax)}, 1.15 x closed-loop max), at most ${CFG.maxSteps} rates of ${CFG.stepMs / 1000} s (+${CFG.stepWarmupMs / 1000} s warm-up); a step passes when p99 <= ${CFG.p99LimitMs} ms, at least 97% of the rate is achieved and every answer is correct (\`allow\` for CTP); a step that kept up but missed the p99 limit is retried once, and one run while other processes used more than ${CFG.busyCores} core (and not clearly saturated) up to twice. First-seen steps use freshly minted tokens (tools/bench/mint.cjs), one per request.`,
    );
    lines.push('');
    lines.push('| workload | max rate | vs floor | steps tried (req/s) |');
    lines.push('| --- | --- | --- | --- |');
    const fr = f?.search.max_rate;
    if (f) lines.push(`| express echo floor | ${maxText(f.search)} | 1.00x | ${stepsText(f.search)} |`);
    if (c) {
      lines.push(`| \`ctp up\` introspect, cache hits | ${maxText(c.cache_hits.search)} | ${pct(c.cache_hits.search.max_rate, fr)} | ${stepsText(c.cache_hits.search)} |`);
      lines.push(`| \`ctp up\` introspect, first-seen tokens | ${maxText(c.first_seen.search)} | ${pct(c.first_seen.search.max_rate, fr)} | ${stepsText(c.first_seen.search)} |`);
    }
    if (sa) lines.push(`| standalone introspector, cache hits | ${maxText(sa.cache_hits.search)} | ${pct(sa.cache_hits.search.max_rate, fr)} | ${stepsText(sa.cache_hits.search)} |`);
    lines.push('');
  }
  if (r.micro) {
    lines.push('#### ES256 micro-benchmark (one process, no server running)');
    lines.push('');
    lines.push(
      `${r.micro.signing_input_bytes}-byte signing input (a real token's header.payload); ${r.micro.rounds} rounds of ${r.micro.round_ms} ms per variant, interleaved; median ops/s over rounds (min..max), CPU time per op from process.cpuUsage (WebCrypto work runs on the libuv pool, ${r.micro.threadpool} threads, so it can use both cores). Other processes used ${r.micro.other_cores} cores meanwhile.`,
    );
    lines.push('');
    lines.push('| operation | ops/s median (min..max) | wall µs/op | CPU µs/op |');
    lines.push('| --- | --- | --- | --- |');
    for (const [name, x] of Object.entries(r.micro.results)) lines.push(`| ${name} | ${fmt(x.ops_per_s)} (${fmt(x.min_ops_per_s)}..${fmt(x.max_ops_per_s)}) | ${x.us_per_op} | ${x.cpu_us_per_op} |`);
  }
  lines.push('<!-- core:end -->');
  return lines.join('\n');
}

export function writeBenchmarks(section) {
  const path = join(ROOT, 'BENCHMARKS.md');
  let doc;
  try {
    doc = readFileSync(path, 'utf8');
  } catch {
    doc = '# Benchmarks\n\n## Core service performance (`npm run bench`)\n';
  }
  const re = /<!-- core:begin -->[\s\S]*<!-- core:end -->/;
  doc = re.test(doc) ? doc.replace(re, () => section) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(path, doc);
  log(`wrote ${relative(process.cwd(), path) || path}`);
}
