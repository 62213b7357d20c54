import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { portsFrom, ROOT, startTopology, type Topology } from './topology';

/**
 * npm run topology -- up | down | status | run
 *
 *   up      starts the topology in the background (`run`, detached) and returns once it is ready
 *   down    stops it (every process it started) and deletes its files
 *   status  each component: pid, ready or not, restarts; the Sentinels' primary; the ledger leader
 *   run     the topology in the foreground until SIGINT/SIGTERM (what `up` runs)
 *
 * CTP_TOPOLOGY_BASE_PORT (default 19000) moves every port; CTP_TOPOLOGY_DATABASE_URL uses that
 * PostgreSQL (a schema and two roles of its own) instead of a private cluster.
 */
const DIR = join(ROOT, 'var/topology');
const STATE = join(ROOT, 'var/topology.json');
const base = Number(process.env.CTP_TOPOLOGY_BASE_PORT ?? 19_000);

interface State {
  pid: number;
  url: string;
  base: number;
  replicas: { name: string; pid: number | undefined; port: number; restarts: number }[];
  nats: number[];
  redis: number[];
  postgres: number | null;
  verifierKey: string;
  ca: string;
}

function stateOf(t: Topology): State {
  return {
    pid: process.pid,
    url: t.url,
    base,
    replicas: t.replicas.map((r) => ({ name: r.name, pid: r.pid, port: r.port, restarts: r.restarts })),
    nats: t.nats.map((n) => n.port),
    redis: t.ports.redis,
    postgres: t.postgres?.port ?? null,
    verifierKey: t.verifierKey,
    ca: join(t.dir, 'nginx/tls.crt'),
  };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const readState = (): State | null => (existsSync(STATE) ? (JSON.parse(readFileSync(STATE, 'utf8')) as State) : null);

async function run(): Promise<void> {
  const topology = await startTopology({ base, dir: DIR, databaseUrl: process.env.CTP_TOPOLOGY_DATABASE_URL, log: (line) => console.log(`topology: ${line}`) });
  const save = () => writeFileSync(STATE, JSON.stringify(stateOf(topology), null, 2));
  save();
  const timer = setInterval(save, 2_000);
  console.log(`topology: ready at ${topology.url} (CA ${join(DIR, 'nginx/tls.crt')})`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    await topology.stop();
    rmSync(STATE, { force: true });
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

async function up(): Promise<void> {
  const running = readState();
  if (running && alive(running.pid)) {
    console.log(`topology: already running (pid ${running.pid}) at ${running.url}`);
    return;
  }
  mkdirSync(join(ROOT, 'var'), { recursive: true });
  const logFile = join(ROOT, 'var/topology.log');
  const out = openSync(logFile, 'w');
  const child = spawn(process.execPath, ['--import', 'tsx', __filename, 'run'], { cwd: ROOT, detached: true, stdio: ['ignore', out, out], env: process.env });
  child.unref();
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    const state = readState();
    if (state && state.pid === child.pid) {
      console.log(`topology: up at ${state.url} (pid ${state.pid}; log ${logFile}; \`npm run topology -- status\`)`);
      return;
    }
    if (!alive(child.pid!)) throw new Error(`topology: failed to start, see ${logFile}:\n${readFileSync(logFile, 'utf8').slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`topology: not ready after 5 minutes, see ${logFile}`);
}

async function down(): Promise<void> {
  const state = readState();
  if (!state || !alive(state.pid)) {
    console.log('topology: not running');
    rmSync(STATE, { force: true });
    return;
  }
  process.kill(state.pid, 'SIGTERM');
  while (alive(state.pid)) await new Promise((r) => setTimeout(r, 200));
  console.log('topology: stopped');
}

async function ready(url: string, init: RequestInit = {}): Promise<string> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(1_000) });
    return res.ok ? 'ready' : `HTTP ${res.status}`;
  } catch {
    return 'down';
  }
}

async function status(): Promise<void> {
  const state = readState();
  if (!state || !alive(state.pid)) {
    console.log('topology: not running');
    process.exitCode = 1;
    return;
  }
  const ports = portsFrom(state.base);
  console.log(`topology: pid ${state.pid}, ${state.url}`);
  for (const r of state.replicas) console.log(`  ${r.name.padEnd(26)} pid ${String(r.pid).padEnd(8)} :${r.port}  ${await ready(`http://127.0.0.1:${r.port}/readyz`)}  restarts ${r.restarts}`);
  for (const [i, n] of ports.nats.entries()) console.log(`  nats-${i}                     :${n.client}  ${await ready(`http://127.0.0.1:${n.monitor}/healthz`)}`);
  try {
    const primary = execFileSync('redis-cli', ['-p', String(ports.redis[2]), 'SENTINEL', 'get-master-addr-by-name', 'ctp'], { encoding: 'utf8' }).trim().split('\n').join(':');
    console.log(`  redis primary (Sentinel)    ${primary}`);
  } catch {
    console.log('  redis Sentinels             down');
  }
}

const commands: Record<string, () => Promise<void>> = { up, down, status, run };
const command = commands[process.argv[2] ?? ''];
if (!command) {
  console.error('usage: npm run topology -- up | down | status | run');
  process.exit(2);
}
command().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
