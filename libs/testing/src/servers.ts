import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { createConnection } from 'node:net';

/**
 * The real servers the suites use: the shared ones CI starts (.ci/run), or the ones the
 * CTP_TEST_* variables name (a helper's private servers on a shared machine).
 */
export const NATS_URL = process.env.CTP_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
export const REDIS_URL = process.env.CTP_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const PG_URL = process.env.CTP_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Host and port of a server URL (`nats://h:p`, `redis://h:p` or `h:p`). */
export function serverAddress(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url.includes('://') ? url : `tcp://${url}`);
  return { host: parsed.hostname, port: parsed.port ? Number(parsed.port) : defaultPort };
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.setTimeout(500, () => (socket.destroy(), resolve(false)));
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** Waits until `port` on 127.0.0.1 accepts connections (`open`) or refuses them. */
export async function waitPort(port: number, open: boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await portOpen(port)) === open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not ${open ? 'start' : 'stop'} on port ${port}`);
}

/** The process listening on a local TCP port (`ss` names it), or an error naming the port. */
function listener(port: number, what: string): { pid: number; bin: string; args: string[] } {
  const line = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
  const pid = Number(/pid=(\d+)/.exec(line)?.[1]);
  if (!pid) throw new Error(`no ${what} process listens on port ${port} (or it belongs to a user this test cannot see)`);
  return { pid, bin: readlinkSync(`/proc/${pid}/exe`), args: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(1, -1) };
}

/** Starts a server detached from this process, so it outlives the test run as the one it replaces did. */
function startDetached(bin: string, args: string[]): void {
  spawn(bin, args, { detached: true, stdio: 'ignore' }).unref();
}

/**
 * Stops the NATS server at `url` (by default the one the suites use) and returns a function that
 * starts it again with the same command line, so JetStream finds its file store where it left it.
 */
export async function stopNats(url = NATS_URL): Promise<() => Promise<void>> {
  const { port } = serverAddress(url, 4222);
  const { pid, bin, args } = listener(port, 'NATS');
  process.kill(pid, 'SIGTERM');
  await waitPort(port, false, 'NATS');
  return async () => {
    startDetached(bin, args);
    await waitPort(port, true, 'NATS');
  };
}

/** redis-server by name: its /proc exe is redis-check-rdb, which acts on the name it was started under. */
export const REDIS_BIN = process.env.CTP_TEST_REDIS_SERVER ?? 'redis-server';

/** The settings a Redis server is started again with; it keeps nothing on disk (`--save ""`, no AOF). */
const REDIS_SETTINGS = ['bind', 'dir', 'logfile'];

/**
 * Stops the Redis server at `url` without saving (it loses everything, as a crashed cache does)
 * and returns a function that starts it again on the same port, bind address, directory and log.
 */
export async function stopRedis(url = REDIS_URL): Promise<() => Promise<void>> {
  const { host, port } = serverAddress(url, 6379);
  const cli = (...args: string[]) => execFileSync('redis-cli', ['-h', host, '-p', String(port), '--raw', ...args], { encoding: 'utf8' });
  // `bind` may list several addresses ("127.0.0.1 -::1"): each is its own argument.
  const settings = REDIS_SETTINGS.flatMap((name) => [`--${name}`, ...(cli('config', 'get', name).split('\n')[1] ?? '').split(name === 'bind' ? ' ' : '\n')]);
  execFileSync('redis-cli', ['-h', host, '-p', String(port), 'shutdown', 'nosave'], { stdio: 'ignore' });
  await waitPort(port, false, 'Redis');
  return async () => {
    execFileSync(REDIS_BIN, ['--port', String(port), ...settings, '--save', '', '--appendonly', 'no', '--daemonize', 'yes'], { stdio: 'ignore' });
    await waitPort(port, true, 'Redis');
  };
}

/**
 * A ledger's own position on the shared test NATS: its own durable consumer, replaying from a
 * second ago. Writers that share a durable share its events, and other suites publish ledger
 * events to the same stream, so each suite's ledger takes only its own.
 */
export function ownLedgerConsumer(durable: string): { CTP_LEDGER_DURABLE: string; CTP_LEDGER_REPLAY_FROM: string } {
  return { CTP_LEDGER_DURABLE: durable, CTP_LEDGER_REPLAY_FROM: new Date(Date.now() - 1000).toISOString() };
}
