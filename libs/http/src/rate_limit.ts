import type { Cluster, Redis } from 'ioredis';
import type { RateLimit, RateLimitedEndpoint } from '@ctp/config';
import { CtpError } from '@ctp/ctp-core';
import type { Partner } from '@ctp/partners';
import { rateLimitFallbacks, rateLimited } from '@ctp/telemetry';

export interface RateDecision {
  allowed: boolean;
  /** When refused: how long until one more request would be allowed, in ms. */
  retryAfterMs: number;
}

/**
 * A GCRA ("generic cell rate algorithm") limiter: each key has a theoretical arrival
 * time (TAT); a request is allowed when TAT - burst * interval <= now, and then moves
 * TAT one interval on. That is a token bucket holding `requests` tokens refilled at
 * `requests / periodSeconds`, kept in one number per key.
 */
export interface RateLimiter {
  take(key: string, limit: RateLimit): Promise<RateDecision>;
}

const intervalMicros = (limit: RateLimit) => (limit.periodSeconds * 1e6) / limit.requests;

/** One GCRA step on plain numbers (µs); shared by the in-process limiter. */
export function gcra(tat: number | undefined, now: number, limit: RateLimit): { allowed: boolean; tat: number; retryAfterMicros: number } {
  const interval = intervalMicros(limit);
  const base = tat === undefined || tat < now ? now : tat;
  const next = base + interval;
  const allowAt = next - limit.requests * interval;
  if (allowAt > now) return { allowed: false, tat: base, retryAfterMicros: allowAt - now };
  return { allowed: true, tat: next, retryAfterMicros: 0 };
}

const SWEEP_EVERY = 4096;

/** In-process limiter for `ctp up` without Redis, and the fallback while Redis fails. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly tats = new Map<string, number>();
  private calls = 0;

  constructor(private readonly nowMicros: () => number = () => Date.now() * 1000) {}

  async take(key: string, limit: RateLimit): Promise<RateDecision> {
    const now = this.nowMicros();
    if (++this.calls % SWEEP_EVERY === 0) for (const [k, tat] of this.tats) if (tat < now) this.tats.delete(k);
    const step = gcra(this.tats.get(key), now, limit);
    this.tats.set(key, step.tat);
    return { allowed: step.allowed, retryAfterMs: step.retryAfterMicros / 1000 };
  }
}

/**
 * GCRA in one Lua step, timed by Redis TIME so replicas with different clocks agree, granting
 * up to ARGV[3] cells at once: as many as the limit allows now (at least 1, else a refusal).
 * KEYS[1] holds the TAT in µs and expires when it is in the past (an idle key costs nothing).
 * Returns {granted, 0} or {0, retry-after µs}. With ARGV[3] = 1 it is the plain one-cell GCRA.
 */
const GCRA_SCRIPT = `
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allowAt = tat + interval - burst * interval
if allowAt > now then
  return {0, math.ceil(allowAt - now)}
end
local granted = math.min(want, math.floor((now - allowAt) / interval) + 1)
local nextTat = tat + granted * interval
redis.call('SET', KEYS[1], string.format('%.0f', nextTat), 'PX', math.ceil((nextTat - now) / 1000) + 1)
return {granted, 0}`;

export interface RedisRateLimiterOptions {
  /** Key prefix (the deployment's CTP_REDIS_PREFIX); keys are `<prefix>rl:<key>`. */
  prefix?: string;
  /** Called when Redis fails and the in-process fallback decides instead. */
  onStoreError?: (error: unknown) => void;
  /**
   * How long cells taken from Redis in one batch may be spent locally (default 50 ms); cells
   * not spent by then are dropped. A batch holds at most the cells the limit accrues in this
   * time, so limits slower than one cell per lease are decided by Redis call by call.
   */
  leaseMs?: number;
  /** The most cells taken in one Redis call (default 64; 1 makes every decision a Redis call). */
  maxBatch?: number;
}

interface Lease {
  /** Cells taken from Redis and not yet spent. */
  cells: number;
  /** performance.now() after which unspent cells are dropped. */
  expiresAt: number;
  /** The Redis call in flight for this key, which every waiting request shares. */
  pending: Promise<Grant> | undefined;
}

type Grant = { granted: number; retryAfterMs: number } | { failed: true };

const ALLOWED: RateDecision = Object.freeze({ allowed: true, retryAfterMs: 0 });

/**
 * Limits shared by every replica through Redis. A replica takes cells from the shared GCRA
 * in batches and spends them locally (one Redis round trip per batch, not per request):
 * Redis charges each cell when it grants it, so the fleet is never granted more than the
 * limit; a granted cell is spent at most `leaseMs` later, so in any window the fleet allows
 * at most `replicas x batch` calls beyond the limit (the overshoot bound, docs/operations.md),
 * and cells a replica leaves unspent are lost to the others for at most `leaseMs`. A batch is
 * at most the cells the limit accrues in `leaseMs` (1 for slow limits: exact, call by call).
 *
 * When Redis fails the decision falls back to an in-process limiter with the same limits
 * (each replica then enforces the limit alone, so the fleet allows up to replicas x limit):
 * availability of issue and introspect does not hinge on the limiter's store, and a runaway
 * client is still held.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly prefix: string;
  private readonly fallback = new MemoryRateLimiter();
  private readonly leases = new Map<string, Lease>();
  private readonly leaseMs: number;
  private readonly maxBatch: number;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly options: RedisRateLimiterOptions = {},
  ) {
    this.prefix = options.prefix ?? 'ctp:';
    this.leaseMs = options.leaseMs ?? 50;
    this.maxBatch = options.maxBatch ?? 64;
    redis.defineCommand('ctpGcra', { numberOfKeys: 1, lua: GCRA_SCRIPT });
  }

  /** Cells per Redis call for a limit: what it accrues in one lease, between 1 and maxBatch. */
  batchFor(limit: RateLimit): number {
    return Math.max(1, Math.min(this.maxBatch, Math.floor((limit.requests * this.leaseMs) / (limit.periodSeconds * 1000))));
  }

  take(key: string, limit: RateLimit): Promise<RateDecision> {
    const lease = this.leases.get(key);
    if (lease !== undefined && lease.cells > 0 && lease.expiresAt > performance.now()) {
      lease.cells--;
      return Promise.resolve(ALLOWED);
    }
    return this.takeFromRedis(key, limit);
  }

  private async takeFromRedis(key: string, limit: RateLimit): Promise<RateDecision> {
    let lease = this.leases.get(key);
    if (lease === undefined) {
      lease = { cells: 0, expiresAt: 0, pending: undefined };
      this.leases.set(key, lease);
    }
    for (;;) {
      if (lease.cells > 0 && lease.expiresAt > performance.now()) {
        lease.cells--;
        return ALLOWED;
      }
      lease.pending ??= this.grant(key, limit, lease);
      const grant = await lease.pending;
      if ('failed' in grant) {
        rateLimitFallbacks.inc();
        return this.fallback.take(key, limit);
      }
      if (grant.granted === 0) return { allowed: false, retryAfterMs: grant.retryAfterMs };
      // Cells granted: take one (the loop), or, if the requests that shared the call spent them all, ask again.
    }
  }

  private async grant(key: string, limit: RateLimit, lease: Lease): Promise<Grant> {
    const run = (this.redis as unknown as { ctpGcra: (...args: (string | number)[]) => Promise<[number, number]> }).ctpGcra;
    try {
      const [granted, retryMicros] = await run.call(this.redis, `${this.prefix}rl:${key}`, intervalMicros(limit), limit.requests, this.batchFor(limit));
      lease.cells = granted;
      lease.expiresAt = performance.now() + this.leaseMs;
      return { granted, retryAfterMs: retryMicros / 1000 };
    } catch (error) {
      this.options.onStoreError?.(error);
      return { failed: true };
    } finally {
      lease.pending = undefined;
    }
  }
}

/** POST paths whose calls count against a partner's limit, by endpoint class. */
const LIMITED_ROUTES: Record<string, RateLimitedEndpoint> = { '/issue': 'issue', '/introspect': 'introspect', '/revoke': 'revoke' };

export interface PartnerRateLimits {
  limiter: RateLimiter;
  /** Deployment defaults; a partner's own `rateLimits` replace them per endpoint. */
  defaults: Record<RateLimitedEndpoint, RateLimit>;
}

/** The endpoint class a request counts against, if any. */
export function limitedEndpoint(method: string, path: string): RateLimitedEndpoint | undefined {
  return method === 'POST' ? LIMITED_ROUTES[path] : undefined;
}

/** Whole seconds for Retry-After (RFC 9110 delay-seconds), never 0. */
export const retryAfterSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * Counts the request against the authenticated partner's limit for its endpoint class;
 * refuses with 429 `rate_limited` and Retry-After when the partner is over it.
 */
export async function enforceRateLimit(limits: PartnerRateLimits, partner: Partner, endpoint: RateLimitedEndpoint): Promise<{ retryAfter: number } | undefined> {
  const limit = partner.rateLimits?.[endpoint] ?? limits.defaults[endpoint];
  const decision = await limits.limiter.take(`${endpoint}:${partner.id}`, limit);
  if (decision.allowed) return undefined;
  rateLimited.inc({ endpoint, partner: partner.id });
  return { retryAfter: retryAfterSeconds(decision.retryAfterMs) };
}

export function rateLimitError(endpoint: RateLimitedEndpoint, limit: RateLimit, retryAfter: number): CtpError {
  return new CtpError('rate_limited', `this partner may call ${endpoint} at most ${limit.requests} times per ${limit.periodSeconds} s; retry in ${retryAfter} s`);
}
