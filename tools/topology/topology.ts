import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadCheckpointSigners } from '@ctp/ledger';
import { ledgerRoles, privateNats, privatePostgres, privateRedisSentinels, type PrivateServer, type RedisSentinelSet } from '@ctp/testing';
import { renderChart, SERVICES, type ChartShape, type ServiceName } from './chart';
import { nginxConf, selfSignedCertificate } from './nginx';

export const ROOT = resolve(__dirname, '../..');
const ENTRY: Record<ServiceName, string> = {
  issuer: 'apps/issuer/src/main.ts',
  introspector: 'apps/introspector/src/main.ts',
  'revocation-broadcaster': 'apps/revocation-broadcaster/src/main.ts',
  'ledger-writer': 'apps/ledger-writer/src/main.ts',
};

/**
 * Ports from `base` (CTP_TOPOLOGY_BASE_PORT, default 19000): the Ingress, the Service listeners,
 * three NATS servers (clients, routes, monitoring), Redis (primary, replica, 3 Sentinels),
 * PostgreSQL, and two replicas of each service.
 */
export function portsFrom(base: number) {
  return {
    ingress: base,
    services: { issuer: base + 1, introspector: base + 2, 'revocation-broadcaster': base + 3, 'ledger-writer': base + 4 } as Record<ServiceName, number>,
    nats: [0, 1, 2].map((i) => ({ client: base + 10 + i, route: base + 13 + i, monitor: base + 16 + i })),
    redis: [base + 20, base + 21, base + 22, base + 23, base + 24],
    postgres: base + 30,
    replicas: { issuer: [base + 40, base + 41], introspector: [base + 42, base + 43], 'revocation-broadcaster': [base + 44, base + 45], 'ledger-writer': [base + 46, base + 47] } as Record<ServiceName, number[]>,
  };
}
export type Ports = ReturnType<typeof portsFrom>;

/** One replica of a service, restarted when it dies, as the kubelet restarts a container. */
export class Replica {
  child: ChildProcess | undefined;
  restarts = 0;
  private stopping = false;
  private log = '';

  constructor(
    readonly service: ServiceName,
    readonly index: number,
    readonly port: number,
    private readonly env: Record<string, string>,
    private readonly logFile: string,
  ) {}

  get name(): string {
    return `${this.service}-${this.index}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY[this.service]], {
      cwd: ROOT,
      env: { ...process.env, ...this.env, CTP_PORT: String(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-50_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.once('exit', () => {
      writeFileSync(this.logFile, this.log);
      if (this.child === child && !this.stopping) {
        this.restarts++;
        setTimeout(() => !this.stopping && this.start(), 1_000).unref();
      }
    });
    this.child = child;
  }

  output(): string {
    return this.log;
  }

  /** A signal to the running process (SIGKILL: the kill tests); it is restarted after a second. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child?.kill(signal);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }

  /** Answers /readyz with 200. */
  async ready(): Promise<boolean> {
    try {
      return (await fetch(`http://127.0.0.1:${this.port}/readyz`, { signal: AbortSignal.timeout(1_000) })).ok;
    } catch {
      return false;
    }
  }
}

export interface Topology {
  ports: Ports;
  dir: string;
  /** https://127.0.0.1:<ingress>: what partners call. */
  url: string;
  /** PEM of the Ingress's self-signed certificate (clients trust it). */
  ca: string;
  /** The Ingress's access log (replica per request), when started with `ingressAccessLog`. */
  ingressAccessLog: string | undefined;
  nats: PrivateServer[];
  redis: RedisSentinelSet;
  postgres: PrivateServer | undefined;
  /** The ledger database as the table owner (pack exports, checks). */
  ledgerOwnerUrl: string;
  ledgerSchema: string;
  replicas: Replica[];
  nginx: ChildProcess;
  /** The checkpoint verifier key (`ctp verify --key`). */
  verifierKey: string;
  shape: ChartShape;
  stop(): Promise<void>;
}

const waitUntil = async (check: () => Promise<boolean>, ms: number, what: string) => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    // A check that throws a topology error gives up at once; any other failure is "not yet".
    if (await check().catch((error: unknown) => (error instanceof Error && error.message.startsWith('topology:') ? Promise.reject(error) : false))) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`topology: ${what} did not come up within ${ms / 1000} s`);
};

/** Replaces in-cluster Service addresses (http://topology-issuer:8001/...) by the local Service listeners. */
function localAddresses(value: string, shape: ChartShape, ports: Ports): string {
  let out = value;
  for (const [address, service] of Object.entries(shape.serviceAddresses)) out = out.split(`//${address}`).join(`//127.0.0.1:${ports.services[service]}`);
  return out;
}

/**
 * Starts the production shape on loopback: 3 NATS servers in one JetStream cluster, Redis primary +
 * replica + 3 Sentinels, PostgreSQL (a private cluster, or `databaseUrl`'s server with its own
 * schema), two replicas of each service with the environment the chart renders, and nginx as the
 * Ingress (TLS 1.3). Resolves when every replica is ready behind nginx.
 */
export async function startTopology(options: { base?: number; dir?: string; databaseUrl?: string; ingressAccessLog?: boolean; log?: (line: string) => void } = {}): Promise<Topology> {
  const log = options.log ?? (() => undefined);
  const ports = portsFrom(options.base ?? 19_000);
  const dir = options.dir ?? join(ROOT, 'var/topology');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const stoppers: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stoppers.reverse()) await s().catch(() => undefined);
  };
  try {
    log('rendering charts/ctp (helm template) for the services\' environment and the Ingress');
    const url = `https://127.0.0.1:${ports.ingress}`;
    const shape = renderChart(ROOT, { 'global.ctp.issuer': url });

    log('NATS: 3 servers, one JetStream cluster');
    const routes = ports.nats.map((n) => `nats://127.0.0.1:${n.route}`).join(',');
    const nats: PrivateServer[] = [];
    for (const [i, n] of ports.nats.entries()) {
      nats.push(await privateNats({ port: n.client, args: ['--server_name', `n${i + 1}`, '--cluster_name', 'ctp', '--cluster', `nats://127.0.0.1:${n.route}`, '--routes', routes, '-m', String(n.monitor)] }));
    }
    stoppers.push(async () => void (await Promise.all(nats.map((n) => n.destroy()))));
    // Every server sees the JetStream meta leader: before that the JetStream API times out, and the
    // services would exit at start (and be restarted) while it is elected.
    const metaLeader = async (monitor: number) => Boolean(((await (await fetch(`http://127.0.0.1:${monitor}/jsz`)).json()) as { meta_cluster?: { leader?: string } }).meta_cluster?.leader);
    await waitUntil(async () => (await Promise.all(ports.nats.map((n) => metaLeader(n.monitor)))).every(Boolean), 60_000, 'the JetStream cluster');

    log('Redis: primary, replica, 3 Sentinels');
    const redis = await privateRedisSentinels({ name: 'ctp', ports: ports.redis, downAfterMs: 1_000 });
    stoppers.push(() => redis.destroy());

    let postgres: PrivateServer | undefined;
    let adminUrl = options.databaseUrl;
    if (!adminUrl) {
      log('PostgreSQL: a private cluster');
      postgres = await privatePostgres({ port: ports.postgres });
      stoppers.push(() => postgres!.destroy());
      adminUrl = postgres.url;
    }
    const ledgerSchema = 'ctp_topology';
    const roles = await ledgerRoles(adminUrl, ledgerSchema);

    // Secrets and mounts: one issuer key set and one subject secret for both issuers (as one
    // Secret mounted into every replica), one checkpoint key for both writers.
    const files = join(dir, 'files');
    const path = (p: string) => join(files, p);
    const secrets: Record<string, string> = {
      CTP_NATS_URL: ports.nats.map((n) => `nats://127.0.0.1:${n.client}`).join(','),
      CTP_REDIS_URL: redis.url,
      CTP_DATABASE_URL: roles.writerUrl,
      CTP_DATABASE_OWNER_URL: roles.ownerUrl,
    };
    const env = (service: ServiceName): Record<string, string> => {
      const out: Record<string, string> = {};
      for (const [name, value] of Object.entries(shape.env[service])) out[name] = value.startsWith('/') ? path(value) : localAddresses(value, shape, ports);
      const needs = service === 'ledger-writer' ? ['CTP_NATS_URL', 'CTP_DATABASE_URL', 'CTP_DATABASE_OWNER_URL'] : ['CTP_NATS_URL', 'CTP_REDIS_URL'];
      for (const name of needs) out[name] = secrets[name]!;
      return { ...out, CTP_HOST: '127.0.0.1', CTP_DATABASE_SCHEMA: ledgerSchema };
    };
    const issuerEnv = env('issuer');
    mkdirSync(issuerEnv.CTP_KEY_DIR!, { recursive: true });
    execFileSync(process.execPath, ['--import', 'tsx', 'apps/ctp/src/main.ts', 'keys', 'rotate', '--key-dir', issuerEnv.CTP_KEY_DIR!], { cwd: ROOT, stdio: 'ignore' });
    mkdirSync(join(issuerEnv.CTP_SUBJECT_SECRET_FILE!, '..'), { recursive: true });
    writeFileSync(issuerEnv.CTP_SUBJECT_SECRET_FILE!, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const writerEnv = env('ledger-writer');
    const signers = loadCheckpointSigners(writerEnv.CTP_LEDGER_KEY_DIR!, writerEnv.CTP_LEDGER_ORIGIN!, writerEnv.CTP_LEDGER_HYBRID === 'true');
    const verifierKey = signers[0]!.verifier.toString();
    for (const name of ['CTP_LEDGER_WARM_DIR', 'CTP_LEDGER_COLD_DIR']) mkdirSync(writerEnv[name]!, { recursive: true });

    log('nginx: the Ingress (TLS 1.3) and one listener per Service');
    const nginxDir = join(dir, 'nginx');
    for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(nginxDir, sub), { recursive: true });
    const tls = selfSignedCertificate(nginxDir);
    const ingressAccessLog = options.ingressAccessLog ? join(nginxDir, 'access.log') : undefined;
    writeFileSync(join(nginxDir, 'nginx.conf'), nginxConf(shape, { dir: nginxDir, ingressPort: ports.ingress, servicePorts: ports.services, upstreams: ports.replicas, tls, accessLog: ingressAccessLog }));
    const nginx = spawn('nginx', ['-c', join(nginxDir, 'nginx.conf'), '-p', nginxDir], { stdio: 'ignore' });
    stoppers.push(async () => {
      const gone = new Promise<void>((r) => nginx.once('exit', () => r()));
      nginx.kill('SIGQUIT');
      await gone;
    });

    log('services: 2 replicas each');
    const replicas: Replica[] = [];
    for (const service of SERVICES) {
      for (const [i, port] of ports.replicas[service].entries()) {
        const replica = new Replica(service, i, port, env(service), join(dir, 'logs', `${service}-${i}.log`));
        replica.start();
        replicas.push(replica);
      }
    }
    stoppers.push(async () => void (await Promise.all(replicas.map((r) => r.stop()))));
    await waitUntil(
      async () => {
        const crashing = replicas.find((r) => r.restarts >= 3);
        if (crashing) throw new Error(`topology: ${crashing.name} keeps exiting:\n${crashing.output().slice(-2000)}`);
        return (await Promise.all(replicas.map((r) => r.ready()))).every(Boolean);
      },
      180_000,
      'every replica (readyz)',
    );

    const ca = readFileSync(tls.cert, 'utf8');
    return { ports, dir, url, ca, ingressAccessLog, nats, redis, postgres, ledgerOwnerUrl: roles.ownerUrl, ledgerSchema, replicas, nginx, verifierKey, shape, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
