import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitFor } from './processes';
import { REDIS_BIN, waitPort as waitPortFor } from './servers';

/**
 * Private PostgreSQL, NATS and Redis servers in a temporary directory, on free ports,
 * for tests that must kill or restart a server: the shared ones are never touched. Each keeps its data directory across restarts and deletes it on `destroy`.
 */

export const PG_BIN = process.env.CTP_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const NATS_BIN = process.env.CTP_TEST_NATS_SERVER ?? '/usr/sbin/nats-server';

/** A private server may take longer than the shared ones to come up (PostgreSQL replays its WAL). */
const waitPort = (port: number, open: boolean, what: string) => waitPortFor(port, open, what, 20_000);

export interface PrivateServer {
  url: string;
  port: number;
  dir: string;
  /** Stops the server; `immediate`: without a clean shutdown (PostgreSQL recovers from WAL on start, NATS is SIGKILLed). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Stops it and deletes its files. */
  destroy(): Promise<void>;
}

type ServerControl = Omit<PrivateServer, 'restart' | 'destroy'>;

/** Adds restart and destroy to a server's start and stop, and starts it. */
async function started(server: ServerControl): Promise<PrivateServer> {
  const full: PrivateServer = {
    ...server,
    async restart(mode = 'fast') {
      await server.stop(mode);
      await server.start();
    },
    async destroy() {
      await server.stop('immediate').catch(() => undefined);
      rmSync(server.dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return full;
}

/** A PostgreSQL 15 cluster (trust auth, fsync on), owned by the `postgres` OS user, on a free port. */
export async function privatePostgres(opts: { port?: number } = {}): Promise<PrivateServer> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'ctp-pg-'));
  chmodSync(dir, 0o755);
  const data = join(dir, 'data');
  mkdirSync(data, { mode: 0o700 });
  const owner = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const group = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  chownSync(dir, owner, group);
  chownSync(data, owner, group);
  const asPostgres = (bin: string, args: string[]) =>
    execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, bin), ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=40 -c shared_buffers=32MB`;
  let running = false;
  const server: ServerControl = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    async start() {
      asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', options, '-w', '-t', '60', 'start']);
      running = true;
      await waitPort(port, true, 'private PostgreSQL');
    },
    async stop(mode = 'fast') {
      if (!running) return;
      asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
      running = false;
      await waitPort(port, false, 'private PostgreSQL');
    },
  };
  return started(server);
}

/** A server run as a child process on `port`: SIGTERM stops it cleanly, SIGKILL at once; its output is kept for errors. */
async function childServer(bin: string, args: string[], port: number, dir: string, what: string, url: string, env?: NodeJS.ProcessEnv): Promise<PrivateServer> {
  let child: ChildProcess | undefined;
  let log = '';
  const server: ServerControl = {
    url,
    port,
    dir,
    async start() {
      if (child) return;
      const started = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
      started.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
      started.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
      started.once('exit', () => {
        if (child === started) child = undefined;
      });
      child = started;
      try {
        await waitPort(port, true, what);
      } catch (error) {
        throw new Error(`${String(error)}\n${log}`, { cause: error });
      }
    },
    async stop(mode = 'fast') {
      const running = child;
      if (!running) return;
      const gone = new Promise<void>((r) => running.once('exit', () => r()));
      running.kill(mode === 'immediate' ? 'SIGKILL' : 'SIGTERM');
      await gone;
      await waitPort(port, false, what);
    },
  };
  return started(server);
}

/** A NATS server with JetStream (file store in a temp dir) on a free port. */
export async function privateNats(options: { args?: string[]; env?: NodeJS.ProcessEnv; port?: number } = {}): Promise<PrivateServer> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'ctp-nats-'));
  return childServer(NATS_BIN, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir, ...(options.args ?? [])], port, dir, 'private NATS', `nats://127.0.0.1:${port}`, options.env);
}

/** A Redis server on a free port that keeps nothing on disk, as the deployments' Redis: a restart empties it. */
export async function privateRedis(options: { args?: string[]; port?: number } = {}): Promise<PrivateServer> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'ctp-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...(options.args ?? [])];
  return childServer(REDIS_BIN, args, port, dir, 'private Redis', `redis://127.0.0.1:${port}`);
}

export interface RedisSentinelSet {
  /** CTP_REDIS_URL for it: `redis+sentinel://<the Sentinels>/<name>`. */
  url: string;
  name: string;
  /** The data nodes, primary first at the start (a failover swaps their roles). */
  nodes: PrivateServer[];
  sentinels: PrivateServer[];
  destroy(): Promise<void>;
}

/**
 * A Redis primary, `replicas` replicas and `sentinels` Sentinels (quorum: a majority) on loopback,
 * as a production Sentinel deployment: the primary is declared down after `downAfterMs` of silence
 * and a replica promoted. `ports`: fixed ports (data nodes first, then Sentinels) instead of free ones.
 */
export async function privateRedisSentinels(options: { name?: string; replicas?: number; sentinels?: number; downAfterMs?: number; ports?: number[] } = {}): Promise<RedisSentinelSet> {
  const name = options.name ?? 'ctp';
  const ports = [...(options.ports ?? [])];
  const nextPort = async () => ports.shift() ?? (await freePort());
  const nodes = [await privateRedis({ port: await nextPort() })];
  for (let i = 0; i < (options.replicas ?? 1); i++) nodes.push(await privateRedis({ port: await nextPort(), args: ['--replicaof', '127.0.0.1', String(nodes[0]!.port)] }));
  const sentinels: PrivateServer[] = [];
  const count = options.sentinels ?? 3;
  for (let i = 0; i < count; i++) {
    const port = await nextPort();
    const dir = mkdtempSync(join(tmpdir(), 'ctp-sentinel-'));
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(conf, [
      `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${nodes[0]!.port} ${Math.floor(count / 2) + 1}`,
      `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
      // A failover that did not finish is retried after twice this: 10 s, not the default 6 minutes.
      `sentinel failover-timeout ${name} 5000`,
      `sentinel parallel-syncs ${name} 1`, '',
    ].join('\n'));
    sentinels.push(await childServer(REDIS_BIN, [conf, '--sentinel'], port, dir, 'private Redis Sentinel', `redis://127.0.0.1:${port}`));
  }
  // Sentinels find each other and the replicas through the primary's hello channel, every 2 s.
  // Until each knows the others, a failover cannot win its vote at once: wait for that, so a
  // primary stopped right after this call fails over as in a settled deployment.
  const replicas = nodes.length - 1;
  for (const sentinel of sentinels) {
    const client = new Redis({ host: '127.0.0.1', port: sentinel.port, lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await waitFor(
        async () =>
          ((await client.call('SENTINEL', 'SENTINELS', name)) as unknown[]).length === count - 1 &&
          ((await client.call('SENTINEL', 'REPLICAS', name)) as unknown[]).length === replicas,
        30_000,
        `Sentinel ${sentinel.port} to know the other Sentinels and the replicas`,
      );
    } finally {
      client.disconnect();
    }
  }
  return {
    url: `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${name}`,
    name,
    nodes,
    sentinels,
    destroy: async () => {
      await Promise.all([...sentinels, ...nodes].map((s) => s.destroy()));
    },
  };
}

/** A Redis Cluster of `masters` primaries (no replicas) on loopback: CTP_REDIS_URL `redis+cluster://...`. */
export async function privateRedisCluster(masters = 3): Promise<{ url: string; nodes: PrivateServer[]; destroy(): Promise<void> }> {
  const nodes: PrivateServer[] = [];
  for (let i = 0; i < masters; i++) nodes.push(await privateRedis({ args: ['--cluster-enabled', 'yes', '--cluster-node-timeout', '2000'] }));
  const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
  execFileSync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
  // The slots are assigned at once; the nodes agree on the configuration a moment later.
  for (let i = 0; i < 100; i++) {
    const info = execFileSync('redis-cli', ['-p', String(nodes[0]!.port), 'cluster', 'info']).toString();
    if (/cluster_state:ok/.test(info)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `redis+cluster://${addresses.join(',')}`, nodes, destroy: async () => void (await Promise.all(nodes.map((n) => n.destroy()))) };
}
