import type { Cluster, Redis } from 'ioredis';
import type { RateLimit, RateLimitedEndpoint } from '@ctp/config';
import type { ReadinessCheck } from './app';
import { clockCheck } from './clock';
import type { Logger } from './logger';
import { MemoryRateLimiter, RedisRateLimiter, type PartnerRateLimits } from './rate_limit';

export interface EdgeControlOptions {
  /** The deployment's Redis connection (`connectRedis`, shared with the revocation list); absent in `ctp up`'s embedded mode. */
  redis: Redis | Cluster | undefined;
  prefix: string;
  limits: Record<RateLimitedEndpoint, RateLimit>;
  logger: Logger;
}

const WARN_EVERY_MS = 10_000;

/**
 * Rate limits and the clock readiness check for a service: Redis-backed (shared by
 * replicas, timed by Redis) when Redis is configured, in-process otherwise.
 */
export function edgeControls(options: EdgeControlOptions): { rateLimits: PartnerRateLimits; readiness: Record<string, ReadinessCheck> } {
  let lastWarn = -Infinity;
  const warn = (error: unknown, msg: string) => {
    if (performance.now() - lastWarn < WARN_EVERY_MS) return;
    lastWarn = performance.now();
    options.logger.warn({ err: error }, msg);
  };
  if (!options.redis) return { rateLimits: { limiter: new MemoryRateLimiter(), defaults: options.limits }, readiness: {} };
  const redis = options.redis;
  return {
    rateLimits: {
      limiter: new RedisRateLimiter(redis, { prefix: options.prefix, onStoreError: (e) => warn(e, 'rate limits: Redis failed; limiting per replica meanwhile') }),
      defaults: options.limits,
    },
    readiness: {
      clock: clockCheck({
        peerTime: async () => {
          const [seconds, micros] = await redis.time();
          return Number(seconds) + Number(micros) / 1e6;
        },
        onError: (e) => warn(e, 'clock check: Redis TIME failed'),
      }),
    },
  };
}
