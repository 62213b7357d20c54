// Server processes of the bench: the floors, `ctp up` and the standalone issuer and
// introspector (on real NATS and Redis), each in its own child process on a port from
// CTP_BENCH_PORTS, plus the probe that reports each server's CPU time, GC and event-loop
// delay per measurement (tools/bench/core/probe.mjs).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ENVELOPE_JSON, log, ROOT, round, sleep } from './config.mjs';

/** Live child processes (servers and helpers); killed when the bench exits. */
export const children = new Set();

/**
 * Ports come from CTP_BENCH_PORTS ("18400-18499"), so benches can run beside tests and
 * other benches on a shared machine; without it, the kernel picks free ports.
 */
function portRange(spec = process.env.CTP_BENCH_PORTS) {
  if (!spec) return undefined;
  const m = /^(\d+)-(\d+)$/.exec(spec.trim());
  if (!m || Number(m[1]) < 1024 || Number(m[2]) > 65535 || Number(m[1]) > Number(m[2])) throw new Error(`CTP_BENCH_PORTS must look like 18400-18499 (got ${spec})`);
  return { from: Number(m[1]), to: Number(m[2]), next: Number(m[1]) };
}
const RANGE = portRange();

const bindable = (port) =>
  new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });

export async function freePort() {
  if (!RANGE) {
    return new Promise((res, rej) => {
      const s = createServer();
      s.once('error', rej);
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => res(port));
      });
    });
  }
  for (let tried = 0; tried <= RANGE.to - RANGE.from; tried++) {
    const port = RANGE.next;
    RANGE.next = port >= RANGE.to ? RANGE.from : port + 1;
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in CTP_BENCH_PORTS ${RANGE.from}-${RANGE.to}`);
}

const PROBE = ['--import', pathToFileURL(join(ROOT, 'tools/bench/core/probe.mjs')).href];

/** Starts a server process (probe preloaded) and waits until GET /readyz answers 200 (at most 60 s). */
export async function startServer(name, args, env, { port: fixedPort, root = ROOT } = {}) {
  const port = fixedPort ?? (await freePort());
  const child = spawn(process.execPath, [...PROBE, ...args], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env, PORT: String(port), CTP_PORT: String(port), CTP_HOST: '127.0.0.1' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  children.add(child);
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  child.once('exit', () => children.delete(child));
  const url = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} before it was ready`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) {
        log(`${name} ready on ${url} after ${((performance.now() - t0) / 1000).toFixed(1)} s (pid ${child.pid})`);
        return { name, url, port, child, exited, startup_s: round((performance.now() - t0) / 1000, 1) };
      }
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${name} did not become ready within 60 s`);
}

export async function stopServer(server) {
  if (!server || server.child.exitCode !== null) return;
  server.child.kill('SIGTERM');
  const result = await Promise.race([server.exited, sleep(15_000).then(() => null)]);
  if (!result) {
    log(`${server.name} did not stop within 15 s; killing pid ${server.child.pid}`);
    server.child.kill('SIGKILL');
    await server.exited;
  }
}

let probeIds = 0;
/**
 * A server's cumulative CPU time (µs, all threads), and its GC pauses and event-loop delay
 * since its previous snapshot. An external meter (`{ name, read }`, e.g. Redis) reports CPU only.
 */
export function probe(server) {
  if (server.read) return server.read().then((cpu_us) => ({ cpu_us, gc: { count: 0, totalMs: 0, maxMs: 0, majorCount: 0 }, loop: { p99_ms: 0, max_ms: 0 }, heap_used_mb: 0 }));
  const id = ++probeIds;
  return new Promise((res, rej) => {
    const timer = setTimeout(() => {
      server.child.off('message', onMessage);
      rej(new Error(`${server.name} did not answer the probe`));
    }, 10_000);
    const onMessage = (msg) => {
      if (msg?.probe !== 'snap' || msg.id !== id) return;
      clearTimeout(timer);
      server.child.off('message', onMessage);
      res(msg);
    };
    server.child.on('message', onMessage);
    server.child.send({ probe: 'snap', id });
  });
}

/** Redis's own CPU time (INFO cpu), as an external meter for `measured`. */
export async function redisMeter(url) {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  return {
    name: 'redis-server',
    read: async () => {
      const info = await client.info('cpu');
      const get = (k) => Number(new RegExp(`^${k}:(\\S+)`, 'm').exec(info)?.[1] ?? 0);
      return Math.round((get('used_cpu_sys') + get('used_cpu_user')) * 1e6);
    },
    close: () => client.quit(),
  };
}

/**
 * Runs `fn` and returns its result with the servers' cost over it: CPU µs per request
 * (`requests(result)`, summed over the servers), GC pauses and event-loop delay of each.
 */
export async function measured(servers, fn, requests) {
  const before = await Promise.all(servers.map(probe));
  const result = await fn();
  const after = await Promise.all(servers.map(probe));
  const n = requests(result);
  const used = after.map((s, i) => s.cpu_us - before[i].cpu_us);
  const cpu = used.reduce((a, b) => a + b, 0);
  return {
    result,
    server: {
      requests: n,
      cpu_us: cpu,
      cpu_us_per_req: n > 0 ? round(cpu / n, 1) : NaN,
      per_process: after.map((s, i) => ({
        name: servers[i].name,
        cpu_us_per_req: n > 0 ? round(used[i] / n, 1) : NaN,
        gc_count: s.gc.count,
        gc_ms: round(s.gc.totalMs, 1),
        gc_max_ms: round(s.gc.maxMs, 2),
        gc_major: s.gc.majorCount,
        loop_p99_ms: round(s.loop.p99_ms, 2),
        loop_max_ms: round(s.loop.max_ms, 1),
        heap_used_mb: round(s.heap_used_mb, 0),
      })),
    },
  };
}

export function runNode(args, env, { timeoutMs = 120_000, maxBuffer = 512 * 1024 * 1024 } = {}) {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(child);
    const chunks = [];
    let size = 0;
    child.stdout.on('data', (c) => {
      size += c.length;
      if (size > maxBuffer) child.kill('SIGKILL');
      else chunks.push(c);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) res(Buffer.concat(chunks).toString('utf8'));
      else rej(new Error(`node ${args.join(' ')} exited with ${code}`));
    });
  });
}

/**
 * Tokens minted with a data directory's key and subject secret (see mint.cjs); one per line.
 * The standalone issuer keeps its key and secret in the same layout (keys/, subject.secret).
 */
export async function mint(dataDir, count) {
  const out = await runNode(['tools/bench/mint.cjs', String(count), ENVELOPE_JSON], { CTP_DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  const tokens = out.split('\n').filter(Boolean);
  if (tokens.length !== count) throw new Error(`minted ${tokens.length} tokens, wanted ${count}`);
  return tokens;
}

export const startRaw = () => startServer('raw node:net responder', ['tools/bench/raw-server.mjs'], {});
export const startFloor = () => startServer('express echo floor', ['tools/bench/floor-server.mjs'], {});

/**
 * `ctp up` in dev mode on a data directory: in-process bus and revocation list, embedded PGlite ledger.
 * `root` is the checkout to run (another one, e.g. a baseline commit, for an A/B in the same rounds).
 */
export function startCtp(dataDir, extraArgs = [], { root = ROOT, label = '' } = {}) {
  return startServer(`${label}ctp up`, [...extraArgs, 'apps/ctp/bin/ctp.js', 'up'], { CTP_DATA_DIR: dataDir, CTP_DEV_MODE: 'true' }, { root });
}

/** NATS and Redis for the standalone shape: CTP_BENCH_NATS_URL / CTP_BENCH_REDIS_URL, else the local defaults. */
export const backends = () => ({
  nats: process.env.CTP_BENCH_NATS_URL ?? 'nats://127.0.0.1:4222',
  redis: process.env.CTP_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
});

/**
 * The standalone shape: the issuer and the introspector as separate processes on real
 * NATS JetStream and Redis (a fresh key prefix per run), the introspector reading the
 * issuer's JWKS. The issuer's key and subject secret live in `dataDir` in ctp up's layout,
 * so mint.cjs makes tokens the introspector accepts.
 */
export async function startStandalone(dataDir, { root = ROOT, label = '' } = {}) {
  const { nats, redis } = backends();
  const common = { CTP_NATS_URL: nats, CTP_REDIS_URL: redis, CTP_REDIS_PREFIX: `bench:${randomBytes(4).toString('hex')}:`, CTP_DEV_MODE: 'true' };
  const issuer = await startServer(
    `${label}standalone issuer`,
    ['--import', 'tsx', 'apps/issuer/src/main.ts'],
    { ...common, CTP_KEY_DIR: join(dataDir, 'keys'), CTP_SUBJECT_SECRET_FILE: join(dataDir, 'subject.secret') },
    { root },
  );
  try {
    const introspector = await startServer(`${label}standalone introspector`, ['--import', 'tsx', 'apps/introspector/src/main.ts'], { ...common, CTP_JWKS_URL: `${issuer.url}/.well-known/jwks.json` }, { root });
    return { issuer, introspector, nats, redis, prefix: common.CTP_REDIS_PREFIX };
  } catch (error) {
    await stopServer(issuer);
    throw error;
  }
}

const killChildren = () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
};
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killChildren();
    process.exit(130);
  });
}
