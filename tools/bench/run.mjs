#!/usr/bin/env node
// Core performance benchmark (`npm run bench`): issue throughput, introspection latency and
// capacity (cache hits and first-seen tokens) of both deployment shapes (`ctp up`, and the
// standalone issuer and introspector on real NATS and Redis), against a bare express 5 JSON
// echo server measured in the same run (and in the same rounds), with each server's CPU per
// request, GC and event-loop delay; plus an ES256 micro-benchmark (node:crypto versus
// WebCrypto). Servers run in their own processes on 127.0.0.1 ports from CTP_BENCH_PORTS
// (e.g. 18400-18499; free ports otherwise); the load generator is this process. Every load
// loop is bounded in count and time. The parts live in tools/bench/core/: config (flags,
// durations), servers (processes, ports, probe), machine (other processes' load), load
// (closed loop, fixed rate, max rate), workloads (what runs on which server), report
// (targets, markdown) and profile (--profile).
//
//   node tools/bench/run.mjs            full run (about 10 minutes), rewrites the results in BENCHMARKS.md
//   node tools/bench/run.mjs --quick    about 1/5 of the durations (smoke test); writes nothing unless --write
//   node tools/bench/run.mjs --only rounds[,standalone,...]   just those parts (micro, floor, ctp, standalone, rounds)
//   node tools/bench/run.mjs --only rounds --baseline-root <checkout>   A/B: the same rounds on another checkout's servers too
//   node tools/bench/run.mjs --profile  runs the introspect and issue workloads against a `ctp up` started with
//                                       --cpu-prof and prints the top self-time frames per workload (no figures written)
// Options: --write (also in quick mode or with --only), --no-write, --json <file> (raw results), --rounds <n>,
// --wait-quiet <s>. Standalone shape: CTP_BENCH_NATS_URL, CTP_BENCH_REDIS_URL (default the local 4222 / 6379).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CFG, flags, log, ONLY, QUICK, ROOT, runs, WRITE } from './core/config.mjs';
import { cpuModel, startCpuMonitor, waitQuiet } from './core/machine.mjs';
import { micro } from './core/load.mjs';
import { profileRun } from './core/profile.mjs';
import { markdown, targets, writeBenchmarks } from './core/report.mjs';
import { benchFloor, benchIntrospect, benchIssue, benchRounds, benchStandalone } from './core/workloads.mjs';

function version(pkg) {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}

/** Runs `fn` on a fresh temporary directory, removed afterwards. */
async function withDir(prefix, fn) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) throw new Error(`needs Node.js 24 (found ${process.version}); run it through npm (npm run bench) so the pinned Node is used`);
  if (flags.profile) return withDir('ctp-bench-', profileRun);
  const r = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpuModel(),
    cores: availableParallelism(),
    autocannon: version('autocannon'),
    express: version('express'),
    quick: QUICK,
    only: ONLY ? [...ONLY] : undefined,
    config: CFG,
  };
  const quietLimit = Number(flags['wait-quiet']);
  if (quietLimit > 0) {
    log(`waiting up to ${quietLimit} s for other processes to go quiet`);
    r.waited_quiet_s = await waitQuiet(Math.min(quietLimit, 1800));
    log(r.waited_quiet_s === null ? 'machine never went quiet; measuring anyway' : `quiet after ${r.waited_quiet_s} s`);
  }
  const measureStart = performance.now();
  r.loadavg_start = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const stopMonitor = startCpuMonitor();
  log(`${QUICK ? 'quick' : 'full'} run${ONLY ? ` (only ${[...ONLY].join(', ')})` : ''}; Node ${r.node}; ${r.cpu} x ${r.cores}; load average ${r.loadavg_start}`);
  if (runs('micro')) {
    log('micro: ES256 node:crypto vs WebCrypto');
    r.micro = await micro();
  }
  if (runs('rounds')) r.rounds = await benchRounds();
  if (runs('floor')) r.floor = await withDir('ctp-bench-', benchFloor);
  if (runs('ctp')) {
    r.ctp = await withDir('ctp-bench-issue-', benchIssue);
    Object.assign(r.ctp, await withDir('ctp-bench-introspect-', benchIntrospect));
  }
  if (runs('standalone')) r.standalone = await withDir('ctp-bench-standalone-', benchStandalone);
  r.total_s = Math.round((performance.now() - measureStart) / 1000);
  r.cpu_share = stopMonitor();
  r.targets = targets(r);
  for (const t of r.targets) log(`${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.value}`);
  const section = markdown(r);
  if (flags.json) writeFileSync(flags.json, `${JSON.stringify(r, null, 2)}\n`);
  if (WRITE) writeBenchmarks(section);
  else console.log(section);
  log(`done in ${r.total_s} s`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
