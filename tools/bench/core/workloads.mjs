// What the bench measures on each server: the floors, `ctp up` (issue on one fresh server,
// introspection on another), the standalone issuer and introspector, and the same-round
// comparison of every shape against the express floor.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { closedCount, paced } from '../loadgen.mjs';
import { CFG, ENVELOPE_JSON, flags, introspectBody, isAllow, isOk, log, median, ROOT, round, sleep } from './config.mjs';
import { cpuSnap, otherCores } from './machine.mjs';
import { autocannonMeasured, closedLoop, fixedRate, maxRate, serverSummary } from './load.mjs';
import { measured, mint, redisMeter, startCtp, startFloor, startRaw, startStandalone, stopServer } from './servers.mjs';

/** Tokens issued through POST /issue (closed loop, 32 connections). */
export async function issueTokens(server, count) {
  const t0 = performance.now();
  const r = await closedCount({ port: server.port, path: '/issue', connections: 32, count, body: () => ENVELOPE_JSON, collect: true, timeoutMs: 180_000 });
  if (r.failed > 0 || r.bodies.length !== count) throw new Error(`issuing ${count} tokens: ${r.failed} failed, ${r.bodies.length} returned`);
  log(`issued ${count} tokens via POST /issue on ${server.name} in ${((performance.now() - t0) / 1000).toFixed(1)} s (${r.rate}/s)`);
  return r.bodies.map((b) => JSON.parse(b).token);
}

export async function metrics(server) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const value = (re) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : 0;
  };
  return {
    allow: value(/^ctp_introspections_total\{decision="allow"\} (\S+)/m),
    deny: value(/^ctp_introspections_total\{decision="deny"\} (\S+)/m),
    issued: value(/^ctp_consent_issued_total\{partner="demo"\} (\S+)/m),
    ledgerIssued: value(/^ctp_ledger_entries_total\{type="consent.issued"\} (\S+)/m),
  };
}

/** Waits until the ledger writer has appended every consent.issued event (bounded), so it does not compete with the next measurement. */
export async function ledgerDrained(server, limitMs = 60_000) {
  const t0 = performance.now();
  for (;;) {
    const m = await metrics(server);
    if (m.ledgerIssued >= m.issued) break;
    if (performance.now() - t0 > limitMs) {
      log(`ledger still ${m.issued - m.ledgerIssued} entries behind after ${limitMs / 1000} s; continuing`);
      break;
    }
    await sleep(200);
  }
  const waited = (performance.now() - t0) / 1000;
  await sleep(500);
  return round(waited, 1);
}

/** Cache-hit pool: tokens issued through POST /issue, each introspected once before measuring. */
async function cachedPool(issuer, introspector, { drainLedger = false } = {}) {
  const pool = (await issueTokens(issuer, CFG.poolSize)).map(introspectBody);
  if (drainLedger) await ledgerDrained(issuer);
  await closedCount({ port: introspector.port, path: '/introspect', connections: 8, count: pool.length, body: (i) => pool[i] });
  return pool;
}

export async function benchFloor(dataDir) {
  // Same request bodies as the cache-hit run: real tokens of the same size, 1,000 of them.
  const pool = (await mint(dataDir, CFG.poolSize)).map(introspectBody);
  const raw = await startRaw();
  let noise;
  try {
    noise = await fixedRate(raw.port, () => (i) => pool[i % pool.length], isOk, { servers: [raw] });
    log(`raw responder 1k/s: p50 ${noise.p50_ms} p99 ${noise.p99_ms} p99.9 ${noise.p999_ms} ms`);
  } finally {
    await stopServer(raw);
  }
  const floor = await startFloor();
  try {
    const url = `${floor.url}/introspect`;
    log('floor: closed loop');
    const closed = await closedLoop(url, { bodies: pool }, { servers: [floor] });
    log(`floor closed loop: ${closed.rps_median}/s median per second, ${closed.server.cpu_us_per_req} µs CPU per request`);
    const fixed = await fixedRate(floor.port, () => (i) => pool[i % pool.length], isOk, { servers: [floor] });
    log(`floor 1k/s: p50 ${fixed.p50_ms} p99 ${fixed.p99_ms} p99.9 ${fixed.p999_ms} ms`);
    const search = await maxRate('floor', floor.port, closed.rps_median, () => (i) => pool[i % pool.length], isOk);
    return { startup_s: floor.startup_s, closed, fixed, search, noise };
  } finally {
    await stopServer(floor);
  }
}

/**
 * Issue throughput on its own `ctp up`: a fresh server, then the same load again once that run's
 * tokens are live (the in-process owner registry and ledger grow with every token issued).
 */
export async function benchIssue(dataDir) {
  const ctp = await startCtp(dataDir);
  try {
    log('issue: closed loop');
    // Not repeated when disturbed: every run changes the server's state (tokens live, ledger size).
    const issue = await closedLoop(`${ctp.url}/issue`, { body: ENVELOPE_JSON }, { repeatIfBusy: false, servers: [ctp] });
    issue.startup_s = ctp.startup_s;
    issue.ledger_drain_s = await ledgerDrained(ctp);
    issue.live_tokens_after = (await metrics(ctp)).issued;
    log(`issue: ${issue.rps_median}/s median per second (non-2xx ${issue.non2xx}), ${issue.server.cpu_us_per_req} µs CPU per token; ledger caught up ${issue.ledger_drain_s} s after the run`);
    const later = await closedLoop(`${ctp.url}/issue`, { body: ENVELOPE_JSON }, { warmupMs: 0, durationMs: CFG.laterIssueMs, repeatIfBusy: false, servers: [ctp] });
    later.live_tokens_before = issue.live_tokens_after;
    log(`issue with ${later.live_tokens_before} live tokens: ${later.rps_median}/s median per second`);
    return { issue, later };
  } finally {
    await stopServer(ctp);
  }
}

/** Introspection (cache hits, first-seen tokens) on one introspecting server; `issuer` issues the pool. */
async function introspection(label, { issuer, introspector, dataDir, servers, search = true, searchFirstSeen = true, drainLedger = false }) {
  const out = {};
  const pool = await cachedPool(issuer, introspector, { drainLedger });
  const m0 = await metrics(introspector);
  log(`${label} cache hits: closed loop`);
  const closed = await closedLoop(`${introspector.url}/introspect`, { bodies: pool }, { servers });
  closed.deny_decisions = (await metrics(introspector)).deny - m0.deny;
  log(`${label} cache hits closed loop: ${closed.rps_median}/s median per second (denies ${closed.deny_decisions}), ${closed.server.cpu_us_per_req} µs CPU per request`);
  const fixedHits = await fixedRate(introspector.port, () => (i) => pool[i % pool.length], isAllow, { servers });
  log(`${label} cache hits 1k/s: p50 ${fixedHits.p50_ms} p99 ${fixedHits.p99_ms} p99.9 ${fixedHits.p999_ms} ms, ${fixedHits.server.cpu_us_per_req} µs CPU per request`);
  const searchHits = search ? await maxRate(`${label} cache hits`, introspector.port, closed.rps_median, () => (i) => pool[i % pool.length], isAllow) : undefined;
  out.cache_hits = { pool: pool.length, closed, fixed: fixedHits, search: searchHits };

  // First-seen tokens at 1,000/s: minted right before (they live 240 s), each used once.
  const perRun = Math.round(((CFG.fixedWarmupMs + CFG.fixedMs) / 1000) * CFG.fixedRate);
  let minted = 0;
  const fixedFresh = await fixedRate(
    introspector.port,
    async () => {
      const fresh = await mint(dataDir, perRun);
      minted += fresh.length;
      return (i) => introspectBody(fresh[i]);
    },
    isAllow,
    { servers },
  );
  log(`${label} first-seen 1k/s: p50 ${fixedFresh.p50_ms} p99 ${fixedFresh.p99_ms} p99.9 ${fixedFresh.p999_ms} ms, ${fixedFresh.server.cpu_us_per_req} µs CPU per request`);
  // First-seen capacity: each step gets its own freshly minted tokens.
  const searchFresh = searchFirstSeen
    ? await maxRate(
        `${label} first-seen`,
        introspector.port,
        closed.rps_median,
        async (_rate, count) => {
          const tokens = await mint(dataDir, count);
          return (i) => introspectBody(tokens[i]);
        },
        isAllow,
      )
    : undefined;
  out.first_seen = { tokens: minted, tokens_per_run: perRun, fixed: fixedFresh, search: searchFresh };
  return out;
}

/** Introspection on a second, fresh `ctp up`, so the issue run's state does not leak into it. */
export async function benchIntrospect(dataDir) {
  const ctp = await startCtp(dataDir);
  try {
    const out = { startup_s: ctp.startup_s, ...(await introspection('ctp up', { issuer: ctp, introspector: ctp, dataDir, servers: [ctp], drainLedger: true })) };
    out.issued_total = (await metrics(ctp)).issued;
    return out;
  } finally {
    await stopServer(ctp);
  }
}

/**
 * The standalone shape: issue on the issuer, then introspection on the introspector (cache
 * hits with their capacity search, first-seen at 1,000/s), NATS and Redis real. Server CPU
 * is the serving process's; Redis's own CPU is reported beside it.
 */
export async function benchStandalone(dataDir) {
  const sa = await startStandalone(dataDir);
  const redis = await redisMeter(sa.redis);
  try {
    log('standalone issuer: closed loop');
    const issue = await closedLoop(`${sa.issuer.url}/issue`, { body: ENVELOPE_JSON }, { repeatIfBusy: false, servers: [sa.issuer, redis] });
    log(`standalone issue: ${issue.rps_median}/s median per second (non-2xx ${issue.non2xx}), ${issue.server.cpu_us_per_req} µs CPU per token (issuer + Redis)`);
    const intro = await introspection('standalone', { issuer: sa.issuer, introspector: sa.introspector, dataDir, servers: [sa.introspector, redis], searchFirstSeen: false });
    return { nats: sa.nats, redis: sa.redis, issue, ...intro };
  } finally {
    await redis.close();
    await stopServer(sa.introspector);
    await stopServer(sa.issuer);
  }
}

/**
 * Same rounds: every shape against the express floor, interleaved, so each ratio compares
 * figures measured seconds apart, under the same machine load. Every server is up for the
 * whole comparison (idle while another is measured). Per round and workload: closed loop (or
 * 1,000/s fixed rate for first-seen tokens) for CFG.roundMs after CFG.roundWarmupMs, preceded
 * by 1 s of idle to measure the servers' background CPU (timers, ledger, flushes), which the
 * net CPU per request leaves out. With --baseline-root <checkout>, the same workloads also run
 * on that checkout's servers (an A/B in the same rounds).
 */
export async function benchRounds() {
  const dirs = [];
  const tmp = (prefix) => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
  const up = [];
  const meters = [];
  try {
    const floor = await startFloor();
    up.push(floor);
    const shapes = [{ label: '', root: ROOT }];
    if (flags['baseline-root']) shapes.push({ label: '[baseline] ', root: resolve(flags['baseline-root']) });
    const workloads = [{ name: 'floor', kind: 'closed', url: `${floor.url}/introspect`, servers: [floor], load: undefined }];
    /** Each shape's workloads, in the same order. */
    const byShape = [];
    for (const { label, root } of shapes) {
      const ctpDir = tmp('ctp-bench-rounds-');
      const saDir = tmp('ctp-bench-rounds-sa-');
      const ctp = await startCtp(ctpDir, [], { root, label });
      up.push(ctp);
      const sa = await startStandalone(saDir, { root, label });
      up.push(sa.introspector, sa.issuer);
      const redis = await redisMeter(sa.redis);
      meters.push(redis);
      const ctpPool = await cachedPool(ctp, ctp, { drainLedger: true });
      const saPool = await cachedPool(sa.issuer, sa.introspector);
      workloads[0].load ??= { bodies: ctpPool };
      byShape.push([
        { name: `${label}ctp up introspect, cached`, kind: 'closed', url: `${ctp.url}/introspect`, load: { bodies: ctpPool }, servers: [ctp] },
        { name: `${label}standalone introspect, cached`, kind: 'closed', url: `${sa.introspector.url}/introspect`, load: { bodies: saPool }, servers: [sa.introspector, redis] },
        { name: `${label}ctp up introspect, first-seen 1,000/s`, kind: 'first-seen', port: ctp.port, dataDir: ctpDir, servers: [ctp] },
        { name: `${label}standalone introspect, first-seen 1,000/s`, kind: 'first-seen', port: sa.introspector.port, dataDir: saDir, servers: [sa.introspector, redis] },
        { name: `${label}ctp up issue`, kind: 'closed', url: `${ctp.url}/issue`, load: { body: ENVELOPE_JSON }, servers: [ctp], drain: ctp },
        { name: `${label}standalone issue`, kind: 'closed', url: `${sa.issuer.url}/issue`, load: { body: ENVELOPE_JSON }, servers: [sa.issuer, redis] },
      ]);
    }
    workloads.push(...byShape.flat());
    const rows = Object.fromEntries(workloads.map((w) => [w.name, []]));
    // With a baseline, each workload runs on both checkouts back to back, which one first
    // alternating from round to round: neither sits always in the same place in a round.
    const pairs = byShape[0].map((_, i) => byShape.map((shape) => shape[i]));
    for (let k = 0; k < CFG.rounds; k++) {
      const order = [workloads[0], ...pairs.flatMap((pair) => (k % 2 === 1 ? [...pair].reverse() : pair))];
      for (const w of order) {
        let entry;
        let tokens;
        if (w.kind === 'closed') await autocannonMeasured(w.url, w.load, CFG.roundWarmupMs, []);
        else tokens = await mint(w.dataDir, Math.round(((CFG.roundWarmupMs + CFG.roundMs) / 1000) * CFG.fixedRate) + 10);
        await sleep(300);
        const idle = await measured(w.servers, () => sleep(1000), () => 1);
        const idleUsPerMs = idle.server.cpu_us / 1000;
        const snap = cpuSnap();
        const t0 = performance.now();
        if (w.kind === 'closed') {
          const { r, server } = await autocannonMeasured(w.url, w.load, CFG.roundMs, w.servers);
          entry = { rps: r.requests.p50, p99_ms: r.latency.p99, bad: r.non2xx + r.errors + r.timeouts, server };
        } else {
          const m = await measured(
            w.servers,
            () => paced({ port: w.port, path: '/introspect', rate: CFG.fixedRate, durationMs: CFG.roundMs, warmupMs: CFG.roundWarmupMs, body: (i) => introspectBody(tokens[i]), check: isAllow }),
            (r) => r.samples + Math.round((CFG.roundWarmupMs / 1000) * CFG.fixedRate),
          );
          entry = { rps: m.result.achieved_rate, p99_ms: round(m.result.p99_ms, 3), bad: m.result.bad_responses + m.result.errors, server: m.server };
        }
        const ms = performance.now() - t0;
        entry.net_cpu_us_per_req = round(Math.max(0, entry.server.cpu_us - idleUsPerMs * ms) / entry.server.requests, 1);
        entry.idle_cpu_cores = round(idleUsPerMs / 1000, 3);
        entry.other_cores = otherCores(snap);
        rows[w.name].push(entry);
        log(
          `round ${k + 1}/${CFG.rounds} ${w.name}: ${entry.rps}/s p99 ${entry.p99_ms} ms, CPU/req ${entry.server.cpu_us_per_req} µs gross, ${entry.net_cpu_us_per_req} µs net of ${entry.idle_cpu_cores} cores idle (${entry.server.per_process.map((p) => `${p.name} ${p.cpu_us_per_req}`).join(', ')}), other ${entry.other_cores}`,
        );
        if (w.drain) await ledgerDrained(w.drain);
      }
    }
    const floorRows = rows.floor;
    const summary = workloads.map((w) => {
      const rs = rows[w.name];
      return {
        name: w.name,
        kind: w.kind,
        rps_median: round(median(rs.map((r) => r.rps)), 0),
        // Ratio to the floor measured in the same round, median over rounds (closed loop only: a fixed-rate run's rate is set).
        vs_floor: w.kind === 'closed' ? round(median(rs.map((r, i) => r.rps / floorRows[i].rps)), 2) : NaN,
        net_cpu_us_per_req: round(median(rs.map((r) => r.net_cpu_us_per_req)), 1),
        net_cpu_vs_floor: round(median(rs.map((r, i) => r.net_cpu_us_per_req / floorRows[i].net_cpu_us_per_req)), 2),
        idle_cpu_cores: round(median(rs.map((r) => r.idle_cpu_cores)), 3),
        p99_ms: round(median(rs.map((r) => r.p99_ms)), 2),
        bad: rs.reduce((a, r) => a + r.bad, 0),
        other_cores_max: Math.max(...rs.map((r) => r.other_cores)),
        ...serverSummary(rs.map((r) => r.server)),
      };
    });
    return { rounds: CFG.rounds, seconds: CFG.roundMs / 1000, warmup_s: CFG.roundWarmupMs / 1000, baseline_root: flags['baseline-root'], summary, raw: rows };
  } finally {
    for (const m of meters) await m.close();
    for (const s of up.reverse()) await stopServer(s);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
