#!/usr/bin/env node
// Revocation benchmarks (issue: revocation that propagates everywhere). Issuer,
// revocation-broadcaster and introspector run as separate processes on the real
// NATS JetStream and Redis at 127.0.0.1; all traffic stays on loopback and every
// loop is bounded. Prints a JSON summary and, with --write, updates BENCHMARKS.md.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import ENVELOPE from '../../libs/testing/src/guide_envelope.json' with { type: 'json' };

const ROOT = resolve(import.meta.dirname, '../..');
const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const N_PUSH = QUICK ? 200 : 1000;
const N_PULL = QUICK ? 40 : 200;
const N_SSE = QUICK ? 200 : 1000;
const N_SSE_EVENTS = QUICK ? 20 : 100;
const THROUGHPUT_SECONDS = QUICK ? 3 : 10;
const POLL_MS = 1000;

const freePort = () => new Promise((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); }); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };
const ms = (x) => Math.round(x * 100) / 100;

async function start(entry, env) {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn', ...env, CTP_PORT: String(port) }, stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`${url}/readyz`)).status === 200) return { url, child }; } catch {}
    await sleep(100);
  }
  throw new Error(`${entry} did not become ready`);
}

const post = async (url, body) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
};

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'ctp-bench-rev-'));
  const backends = { CTP_NATS_URL: 'nats://127.0.0.1:4222', CTP_REDIS_URL: 'redis://127.0.0.1:6379', CTP_REDIS_PREFIX: `bench:${randomBytes(4).toString('hex')}:`, CTP_DEV_MODE: 'true' };
  const issuer = await start('apps/issuer/src/main.ts', { ...backends, CTP_KEY_DIR: join(dir, 'keys'), CTP_SUBJECT_SECRET_FILE: join(dir, 'secret') });
  const broadcaster = await start('apps/revocation-broadcaster/src/main.ts', { ...backends, CTP_POLL_INTERVAL_MS: String(POLL_MS) });
  const introspector = await start('apps/introspector/src/main.ts', { ...backends, CTP_JWKS_URL: `${issuer.url}/.well-known/jwks.json` });
  const results = { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, quick: QUICK };
  try {
    // 1. Push: /revoke response -> first denying /introspect, one revocation at a time.
    const tokens = [];
    for (let i = 0; i < N_PUSH; i++) tokens.push((await post(`${issuer.url}/issue`, ENVELOPE)).body);
    for (const t of tokens) if ((await post(`${introspector.url}/introspect`, { token: t.token, context_envelope: ENVELOPE })).body.decision !== 'allow') throw new Error('token not allowed before revocation');
    const push = [];
    for (const t of tokens) {
      const r = await post(`${broadcaster.url}/revoke`, { jti: t.jti, reason: 'bench' });
      if (r.status !== 200) throw new Error(`revoke answered ${r.status}`);
      const t0 = performance.now();
      for (let polls = 0; ; polls++) {
        const d = await post(`${introspector.url}/introspect`, { token: t.token, context_envelope: ENVELOPE });
        if (d.body.reason === 'revoked') break;
        if (polls > 10_000) throw new Error('revocation never propagated');
      }
      push.push(performance.now() - t0);
    }
    results.push = { samples: push.length, p50_ms: ms(quantile(push, 0.5)), p95_ms: ms(quantile(push, 0.95)), p99_ms: ms(quantile(push, 0.99)), max_ms: ms(Math.max(...push)) };

    // 2. Pull: a client polling GET /revocations every POLL_MS; revoke response -> seen by the poller.
    let cursor = '0';
    for (;;) { const p = (await (await fetch(`${broadcaster.url}/revocations?since=${cursor}&limit=1000`)).json()); cursor = p.next_cursor; if (!p.has_more) break; }
    const revokedAt = new Map();
    const pull = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const page = await (await fetch(`${broadcaster.url}/revocations?since=${cursor}&limit=1000`)).json();
        const now = performance.now();
        for (const r of page.revocations) if (revokedAt.has(r.jti)) pull.push(now - revokedAt.get(r.jti));
        cursor = page.next_cursor;
        if (!page.has_more) await sleep(POLL_MS);
      }
    })();
    for (let i = 0; i < N_PULL; i++) {
      const jti = randomUUID();
      await post(`${broadcaster.url}/revoke`, { jti, reason: 'bench' });
      revokedAt.set(jti, performance.now());
      await sleep(Math.random() * 50);
    }
    const deadline = Date.now() + POLL_MS * 3;
    while (pull.length < N_PULL && Date.now() < deadline) await sleep(50);
    polling = false;
    await poller;
    results.pull = { poll_interval_ms: POLL_MS, samples: pull.length, p50_ms: ms(quantile(pull, 0.5)), p95_ms: ms(quantile(pull, 0.95)), max_ms: ms(Math.max(...pull)) };

    // 3. Revoke throughput: unique jtis, closed loop.
    const ac = await autocannon({
      url: `${broadcaster.url}/revoke`, method: 'POST', connections: 32, duration: THROUGHPUT_SECONDS,
      headers: { 'content-type': 'application/json' },
      requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ jti: randomUUID(), reason: 'bench' }) }) }],
    });
    results.revoke_throughput = { rps_mean: Math.round(ac.requests.average), p50_ms: ac.latency.p50, p99_ms: ac.latency.p99, non2xx: ac.non2xx, errors: ac.errors, seconds: THROUGHPUT_SECONDS, connections: 32 };

    // 4. Push fan-out: N_SSE concurrent SSE subscribers; delivery latency per (subscriber, event).
    const sseLatency = [];
    const sent = new Map();
    let ready = 0;
    const sockets = [];
    const url = new URL(`${broadcaster.url}/revocations/stream`);
    await Promise.all(Array.from({ length: N_SSE }, () => new Promise((resolveOpen, rejectOpen) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, headers: { accept: 'text/event-stream' }, agent: false }, (res) => {
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          buffer += chunk;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
            if (block.includes('event: ready')) { ready++; resolveOpen(); }
            const data = block.split('\n').find((l) => l.startsWith('data: '));
            if (block.includes('event: revocation') && data) {
              const t = sent.get(JSON.parse(data.slice(6)).jti);
              if (t !== undefined) sseLatency.push(performance.now() - t);
            }
          }
        });
      });
      req.on('error', rejectOpen);
      req.end();
      sockets.push(req);
    })));
    for (let i = 0; i < N_SSE_EVENTS; i++) {
      const jti = randomUUID();
      // Recorded before the request: the push usually arrives before the /revoke response.
      sent.set(jti, performance.now());
      const r = await post(`${broadcaster.url}/revoke`, { jti, reason: 'bench' });
      if (r.status !== 200) throw new Error(`revoke answered ${r.status}`);
      await sleep(20);
    }
    const until = Date.now() + 5000;
    while (sseLatency.length < N_SSE * N_SSE_EVENTS && Date.now() < until) await sleep(50);
    for (const s of sockets) s.destroy();
    results.sse_fanout = {
      subscribers: ready, events: N_SSE_EVENTS, deliveries: sseLatency.length, expected: N_SSE * N_SSE_EVENTS,
      p50_ms: ms(quantile(sseLatency, 0.5)), p95_ms: ms(quantile(sseLatency, 0.95)), p99_ms: ms(quantile(sseLatency, 0.99)),
    };
  } finally {
    for (const p of [introspector, broadcaster, issuer]) p.child.kill('SIGTERM');
  }
  results.targets = {
    'push p95 <= 20 ms': results.push.p95_ms <= 20,
    'push p99 <= 50 ms': results.push.p99_ms <= 50,
    [`pull p95 <= poll interval + 100 ms (${POLL_MS + 100} ms)`]: results.pull.p95_ms <= POLL_MS + 100,
    'revoke >= 2,000/s': results.revoke_throughput.rps_mean >= 2000 && results.revoke_throughput.non2xx === 0,
    [`${N_SSE} SSE subscribers, push p95 <= 100 ms`]: results.sse_fanout.subscribers === N_SSE && results.sse_fanout.deliveries === results.sse_fanout.expected && results.sse_fanout.p95_ms <= 100,
  };
  console.log(JSON.stringify(results, null, 2));
  if (args.has('--write')) writeSection(results);
}

function writeSection(r) {
  const path = join(ROOT, 'BENCHMARKS.md');
  let doc = '';
  try { doc = readFileSync(path, 'utf8'); } catch { doc = '# Benchmarks\n'; }
  const begin = '<!-- revocation:begin -->';
  const end = '<!-- revocation:end -->';
  const pass = (ok) => (ok ? 'PASS' : 'FAIL');
  const t = Object.entries(r.targets);
  const section = `${begin}
## Revocation propagation (\`npm run bench:revocation\`)

Measured ${r.date} on ${r.cpu} (2 cores), Node.js ${r.node}${r.quick ? ' (quick mode)' : ''}. Issuer, revocation-broadcaster and
introspector are separate processes on the real NATS JetStream and Redis at 127.0.0.1; the load generator is a fourth
process on the same two cores.

| measurement | result | target |
| --- | --- | --- |
| push: \`/revoke\` response -> first denying \`/introspect\` (${r.push.samples} revocations, one at a time) | p50 ${r.push.p50_ms} ms, p95 ${r.push.p95_ms} ms, p99 ${r.push.p99_ms} ms, max ${r.push.max_ms} ms | ${pass(r.targets['push p95 <= 20 ms'])} p95 <= 20 ms, ${pass(r.targets['push p99 <= 50 ms'])} p99 <= 50 ms |
| pull: \`/revoke\` response -> seen by a client polling \`GET /revocations\` every ${r.pull.poll_interval_ms} ms (${r.pull.samples} revocations) | p50 ${r.pull.p50_ms} ms, p95 ${r.pull.p95_ms} ms, max ${r.pull.max_ms} ms | ${pass(t[2][1])} p95 <= ${r.pull.poll_interval_ms + 100} ms |
| revoke throughput, one broadcaster, ${r.revoke_throughput.connections} connections, ${r.revoke_throughput.seconds} s, unique jtis | ${r.revoke_throughput.rps_mean} /s (p50 ${r.revoke_throughput.p50_ms} ms, p99 ${r.revoke_throughput.p99_ms} ms, non-2xx ${r.revoke_throughput.non2xx}) | ${pass(t[3][1])} >= 2,000 /s |
| SSE fan-out: ${r.sse_fanout.subscribers} subscribers x ${r.sse_fanout.events} revocations (${r.sse_fanout.deliveries}/${r.sse_fanout.expected} delivered) | p50 ${r.sse_fanout.p50_ms} ms, p95 ${r.sse_fanout.p95_ms} ms, p99 ${r.sse_fanout.p99_ms} ms | ${pass(t[4][1])} p95 <= 100 ms |

Method: push latency is timed from the moment the \`/revoke\` response arrives to the first \`/introspect\` that answers
\`revoked\`, polling \`/introspect\` back to back (each poll costs about one loopback round trip, which bounds the
resolution). Pull latency is timed from the \`/revoke\` response to the poller's page that contains it; revocations are
spread randomly over the poll cycle. SSE latency is timed from just before each \`/revoke\` request to each subscriber's
receipt of the event.
${end}`;
  doc = doc.includes(begin) ? doc.replace(new RegExp(`${begin}[\\s\\S]*${end}`), section) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(path, doc);
}

main().catch((error) => { console.error(error); process.exit(1); });
