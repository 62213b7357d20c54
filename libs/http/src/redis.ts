import { Redis } from 'ioredis';

/**
 * The deployment's Redis, one connection per process: the revocation list and the edge controls
 * (rate limits, the clock check) share it. Commands fail fast while Redis is down (one retry, no
 * offline queue), so callers answer 503 or fall back instead of queueing; the client reconnects on
 * its own. Resolves once connected, or rejects naming the server. No URL: undefined (`ctp up`'s
 * embedded mode keeps that state in process).
 */
export async function connectRedis(url: string | undefined, timeoutMs = 5_000): Promise<Redis | undefined> {
  if (!url) return undefined;
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
  });
  redis.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Redis is not reachable at ${redis.options.host}:${redis.options.port}`)), timeoutMs);
      redis.once('ready', () => (clearTimeout(timer), resolve()));
    });
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  return redis;
}
