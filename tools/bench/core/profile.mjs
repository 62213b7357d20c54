// `npm run bench -- --profile`: runs the introspect and issue workloads against a `ctp up`
// started with --cpu-prof and prints, per workload, the top self-time frames, time by
// package or lib, and the longest busy stretches of the event loop (no figures written).
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import autocannon from 'autocannon';
import { closedCount, paced } from '../loadgen.mjs';
import { CFG, ENVELOPE_JSON, introspectBody, isAllow, log, ROOT, round, sec, sleep } from './config.mjs';
import { mint, startCtp, stopServer } from './servers.mjs';
import { issueTokens, ledgerDrained, metrics } from './workloads.mjs';

function profileSummary(file, windows) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const urlOf = (cf) => (cf.url.startsWith('file://') ? relative(ROOT, cf.url.slice(7)) : cf.url);
  const nameOf = (cf) => `${cf.functionName || '(anonymous)'} ${urlOf(cf) ? `${urlOf(cf)}:${cf.lineNumber + 1}` : ''}`.trim();
  // The outermost frame of our own code (libs/, apps/) on the stack: which subsystem asked for the work.
  const entryOf = (id) => {
    let entry;
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = nodes.get(cur).callFrame;
      if (/^(libs|apps)\//.test(urlOf(cf))) entry = nameOf(cf);
    }
    return entry ?? '(no CTP frame)';
  };
  const idle = (id) => nodes.get(id).callFrame.functionName === '(idle)';
  const out = {};
  for (const w of windows) {
    const self = new Map();
    const groups = new Map();
    const stretches = [];
    let current;
    let t = profile.startTime;
    let total = 0;
    for (let i = 0; i < profile.samples.length; i++) {
      t += profile.timeDeltas[i];
      if (t < w.fromUs || t > w.toUs) continue;
      const id = profile.samples[i];
      const cf = nodes.get(id).callFrame;
      const name = nameOf(cf);
      self.set(name, (self.get(name) ?? 0) + 1);
      const group = groupOf(cf.functionName, urlOf(cf));
      groups.set(group, (groups.get(group) ?? 0) + 1);
      total++;
      if (idle(id)) {
        if (current) stretches.push(current);
        current = undefined;
      } else {
        current ??= { fromUs: t, toUs: t, entries: new Map(), groups: new Map() };
        current.toUs = t + (profile.timeDeltas[i + 1] ?? 0);
        const entry = entryOf(id);
        current.entries.set(entry, (current.entries.get(entry) ?? 0) + 1);
        current.groups.set(group, (current.groups.get(group) ?? 0) + 1);
      }
    }
    if (current) stretches.push(current);
    const top = (m, n, of = total) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => ({ frame: k, pct: round((100 * v) / of, 1) }));
    const longest = stretches
      .sort((a, b) => b.toUs - b.fromUs - (a.toUs - a.fromUs))
      .slice(0, 6)
      .map((s) => {
        const n = [...s.entries.values()].reduce((a, b) => a + b, 0);
        return { ms: round((s.toUs - s.fromUs) / 1000, 1), entries: top(s.entries, 3, n), groups: top(s.groups, 4, n) };
      });
    const busy = stretches.map((s) => (s.toUs - s.fromUs) / 1000);
    out[w.name] = {
      samples: total,
      busy_stretches_over_2ms: busy.filter((x) => x > 2).length,
      window_s: round((w.toUs - w.fromUs) / 1e6, 1),
      top_self: top(self, 20),
      by_group: top(groups, 14),
      longest_busy: longest,
    };
  }
  return out;
}

function groupOf(fn, url) {
  if (fn === '(idle)' || fn === '(program)' || fn === '(garbage collector)') return fn;
  if (!url) return `native/builtin (${fn || 'anonymous'})`.slice(0, 60);
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/');
    return `npm:${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const m = /^(libs|apps)\/([^/]+)/.exec(url);
  return m ? `${m[1]}/${m[2]}` : url;
}

export async function profileRun(dataDir) {
  const profDir = mkdtempSync(join(tmpdir(), 'ctp-bench-prof-'));
  const ctp = await startCtp(dataDir, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=200']);
  const nowUs = () => Number(process.hrtime.bigint() / 1000n);
  const windows = [];
  const phase = async (name, fn) => {
    const fromUs = nowUs();
    const result = await fn();
    windows.push({ name, fromUs, toUs: nowUs() });
    log(`${name}: ${JSON.stringify(result)}`);
  };
  const dur = sec(5);
  try {
    const pool = (await issueTokens(ctp, CFG.poolSize)).map(introspectBody);
    await closedCount({ port: ctp.port, path: '/introspect', connections: 8, count: pool.length, body: (i) => pool[i] });
    await ledgerDrained(ctp);
    for (const rate of [1000, 2000]) {
      await phase(`cache hits, ${rate.toLocaleString('en-US')} req/s`, async () => {
        const r = await paced({ port: ctp.port, path: '/introspect', rate, durationMs: dur, body: (i) => pool[i % pool.length], check: isAllow });
        return { p50_ms: round(r.p50_ms, 3), p99_ms: round(r.p99_ms, 3), bad: r.bad_responses };
      });
      await sleep(500);
    }
    const fresh = await mint(dataDir, Math.round((dur / 1000) * 1000) + 10);
    await sleep(500);
    await phase('first-seen, 1,000 req/s', async () => {
      const r = await paced({ port: ctp.port, path: '/introspect', rate: 1000, durationMs: dur, body: (i) => introspectBody(fresh[i]), check: isAllow });
      return { p50_ms: round(r.p50_ms, 3), p99_ms: round(r.p99_ms, 3), bad: r.bad_responses };
    });
    await sleep(500);
    await phase('cache hits, closed loop 32 connections', async () => {
      const r = await autocannon({ url: `${ctp.url}/introspect`, method: 'POST', connections: 32, duration: dur / 1000, headers: { 'content-type': 'application/json' }, requests: pool.map((b) => ({ body: b })) });
      return { rps: r.requests.average, p99_ms: r.latency.p99 };
    });
    await sleep(500);
    for (const when of ['issue, closed loop 32 connections', 'issue again, closed loop 32 connections']) {
      const live = (await metrics(ctp)).issued;
      await phase(`${when} (${live} tokens live at the start)`, async () => {
        const r = await autocannon({ url: `${ctp.url}/issue`, method: 'POST', connections: 32, duration: dur / 1000, headers: { 'content-type': 'application/json' }, body: ENVELOPE_JSON });
        return { rps: r.requests.average, p99_ms: r.latency.p99, non2xx: r.non2xx };
      });
    }
  } finally {
    await stopServer(ctp);
  }
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${profDir}`);
  const summary = profileSummary(join(profDir, file), windows);
  for (const [name, s] of Object.entries(summary)) {
    console.log(`\n== ${name}: ${s.samples} samples (200 µs interval) over ${s.window_s} s`);
    console.log('   by group:', s.by_group.map((g) => `${g.frame} ${g.pct}%`).join(', '));
    console.log('   top self time:');
    for (const t of s.top_self) console.log(`   ${String(t.pct).padStart(5)}%  ${t.frame}`);
    console.log(`   longest busy stretches of the event loop (${s.busy_stretches_over_2ms} over 2 ms); outermost CTP frame and groups:`);
    for (const b of s.longest_busy) {
      console.log(`   ${String(b.ms).padStart(6)} ms  ${b.entries.map((e) => `${e.frame} ${e.pct}%`).join('; ')}`);
      console.log(`              ${b.groups.map((g) => `${g.frame} ${g.pct}%`).join(', ')}`);
    }
  }
  console.log(`\nprofile: ${join(profDir, file)}`);
}

