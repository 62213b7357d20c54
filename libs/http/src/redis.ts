import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** The deployment's Redis: one server (or a Sentinel-managed primary), or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** What CTP_REDIS_URL names (docs/operations.md, "NATS and Redis"). */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'sentinel'; sentinels: { host: string; port: number }[]; name: string; username?: string; password?: string; tls: boolean; db: number }
  | { kind: 'cluster'; nodes: { host: string; port: number }[]; username?: string; password?: string; tls: boolean };

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/;

function hostsOf(list: string, defaultPort: number, url: string): { host: string; port: number }[] {
  const hosts = list.split(',').map((h) => {
    const m = HOST_PORT.exec(h.trim());
    if (!m) throw new Error(`CTP_REDIS_URL: "${h}" is not host:port (${redact(url)})`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : defaultPort };
  });
  if (hosts.length === 0) throw new Error(`CTP_REDIS_URL names no server (${redact(url)})`);
  return hosts;
}

/** A URL without its credentials, for messages. */
export const redact = (url: string): string => url.replace(/\/\/[^@/]*@/, '//');

/**
 * Reads CTP_REDIS_URL:
 * - `redis://[[user]:password@]host:port[/db]` or `rediss://` (TLS): one server;
 * - `redis+sentinel://[[user]:password@]s1:26379,s2:26379,s3:26379/<primary name>[/db]` (or
 *   `rediss+sentinel://`): the primary the Sentinels name, followed across failovers; the password
 *   is the data nodes' and the Sentinels';
 * - `redis+cluster://[[user]:password@]n1:6379,n2:6379,...` (or `rediss+cluster://`): a Redis Cluster
 *   from its seed nodes.
 */
export function redisTarget(url: string): RedisTarget {
  const m = /^(rediss?)\+(sentinel|cluster):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/]+)(?:\/([^/]*))?(?:\/(\d+))?$/.exec(url);
  if (!m) {
    if (!/^rediss?:\/\//.test(url)) throw new Error(`CTP_REDIS_URL must start with redis://, rediss://, redis+sentinel:// or redis+cluster:// (${redact(url)})`);
    return { kind: 'single', url };
  }
  const [, scheme, kind, user, password, hosts] = m;
  const credentials = { ...(user ? { username: decodeURIComponent(user) } : {}), ...(password ? { password: decodeURIComponent(password) } : {}) };
  const tls = scheme === 'rediss';
  if (kind === 'cluster') {
    if (m[6] || m[7]) throw new Error(`CTP_REDIS_URL: a Redis Cluster has no primary name or database (${redact(url)})`);
    return { kind: 'cluster', nodes: hostsOf(hosts!, 6379, url), ...credentials, tls };
  }
  if (!m[6]) throw new Error(`CTP_REDIS_URL: redis+sentinel:// needs the primary's name after the Sentinels, e.g. /mymaster (${redact(url)})`);
  return { kind: 'sentinel', sentinels: hostsOf(hosts!, 26379, url), name: decodeURIComponent(m[6]), ...credentials, tls, db: m[7] ? Number(m[7]) : 0 };
}

/** Fail fast while Redis is down (one retry, no offline queue): callers answer 503 or fall back. */
const FAIL_FAST: RedisOptions = {
  maxRetriesPerRequest: 1,
  enableOfflineQueue: false,
  connectTimeout: 2_000,
  commandTimeout: 2_000,
  retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
};

function client(target: RedisTarget): RedisClient {
  if (target.kind === 'single') return new Redis(target.url, FAIL_FAST);
  const tls = target.tls ? { tls: {} } : {};
  const auth = { ...(target.username ? { username: target.username } : {}), ...(target.password ? { password: target.password } : {}) };
  if (target.kind === 'sentinel') {
    return new Redis({
      ...FAIL_FAST,
      ...auth,
      ...tls,
      db: target.db,
      sentinels: target.sentinels,
      name: target.name,
      ...(target.password ? { sentinelPassword: target.password } : {}),
      ...(target.username ? { sentinelUsername: target.username } : {}),
      ...(target.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      // A failover is seen at once (Sentinel's +switch-master), not at the next failed command.
      failoverDetector: true,
    });
  }
  const options: ClusterOptions = {
    enableOfflineQueue: false,
    clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    redisOptions: { ...FAIL_FAST, ...auth, ...tls },
  };
  return new Cluster(target.nodes, options);
}

/**
 * The deployment's Redis, one connection per process: the revocation list and the edge controls
 * (rate limits, the clock check) share it. Commands fail fast while Redis is down (one retry, no
 * offline queue), so callers answer 503 or fall back instead of queueing; the client reconnects on
 * its own (and, behind Sentinel, to the new primary). Resolves once connected, or rejects naming the
 * server without its credentials. No URL: undefined (`ctp up`'s embedded mode keeps that state in
 * process).
 */
export async function connectRedis(url: string | undefined, timeoutMs = 5_000): Promise<RedisClient | undefined> {
  if (!url) return undefined;
  const redis = client(redisTarget(url));
  redis.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Redis is not reachable at ${redact(url)}`)), timeoutMs);
      redis.once('ready', () => (clearTimeout(timer), resolve()));
    });
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  return redis;
}
