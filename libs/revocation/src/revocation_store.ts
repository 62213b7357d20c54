import type { Cluster, Redis } from 'ioredis';
import { CLOCK_SKEW_SECONDS } from '@ctp/ctp-core';

/** One revoked jti in the revocation list (the CRL). */
export interface RevocationRecord {
  jti: string;
  /** The partner whose feed gets the revocation (the token's owner, or the caller for an unknown jti). */
  partnerId: string;
  reason: string;
  revokedAtMs: number;
  /** Seconds since the epoch when the token expires anyway. */
  expiresAt: number;
  /** Bus sequence once the revocation has been published. */
  seq?: number;
}

export type LiveRevocation = Pick<RevocationRecord, 'jti' | 'expiresAt' | 'revokedAtMs'>;

/**
 * The shared revocation list: what introspectors read while the bus is down, and what the
 * broadcaster checks to publish each revocation once. Entries expire with their tokens (plus
 * skew), so its size is bounded by the revocations of the last few minutes.
 */
export interface RevocationStore {
  /** Stores the record unless the jti is already revoked; returns what is stored. */
  record(entry: RevocationRecord, nowSeconds: number): Promise<{ entry: RevocationRecord; created: boolean }>;
  markPublished(entry: RevocationRecord, seq: number): Promise<void>;
  /** Every revoked jti whose token may still be live. */
  live(nowSeconds: number): Promise<LiveRevocation[]>;
}

const ttlOf = (expiresAt: number, nowSeconds: number) => Math.max(1, Math.ceil(expiresAt - nowSeconds + CLOCK_SKEW_SECONDS));

const PRUNE_EVERY = 1024;

/** In-process revocation list for `ctp up`. Expired entries are swept every PRUNE_EVERY writes. */
export class MemoryRevocationStore implements RevocationStore {
  private readonly entries = new Map<string, RevocationRecord>();
  private writes = 0;

  async record(entry: RevocationRecord, nowSeconds: number) {
    if (++this.writes % PRUNE_EVERY === 0) {
      for (const [jti, e] of this.entries) if (e.expiresAt + CLOCK_SKEW_SECONDS < nowSeconds) this.entries.delete(jti);
    }
    const existing = this.entries.get(entry.jti);
    if (existing) return { entry: { ...existing }, created: false };
    this.entries.set(entry.jti, { ...entry });
    return { entry: { ...entry }, created: true };
  }

  async markPublished(entry: RevocationRecord, seq: number) {
    const stored = this.entries.get(entry.jti);
    if (stored) stored.seq = seq;
  }

  async live(nowSeconds: number) {
    return [...this.entries.values()]
      .filter((e) => e.expiresAt + CLOCK_SKEW_SECONDS >= nowSeconds)
      .map(({ jti, expiresAt, revokedAtMs }) => ({ jti, expiresAt, revokedAtMs }));
  }
}

/** Stores the entry and indexes it, unless the jti is already there: one atomic step. */
const RECORD_SCRIPT = `
local ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
if ok then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
  return false
end
return redis.call('GET', KEYS[1])`;

/**
 * The revocation list in Redis: `<prefix>{crl}:<jti>` holds the record (TTL = remaining token life +
 * skew) and `<prefix>{crl}:index` orders "<jti> <revokedAtMs>" by expiry for backfills. The `{crl}`
 * hash tag keeps every CRL key in one hash slot, so the script that writes a record and its index
 * entry together runs on a Redis Cluster too (the list is small: the revocations of the last token
 * lifetime). The
 * connection is the process's one Redis connection (`connectRedis`), which its owner closes.
 */
export class RedisRevocationStore implements RevocationStore {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly prefix = 'ctp:',
  ) {
    redis.defineCommand('ctpRecord', { numberOfKeys: 2, lua: RECORD_SCRIPT });
  }

  async record(entry: RevocationRecord, nowSeconds: number) {
    const run = (this.redis as unknown as { ctpRecord: (...args: (string | number)[]) => Promise<string | null> }).ctpRecord;
    const existing = await run.call(
      this.redis,
      `${this.prefix}{crl}:${entry.jti}`,
      `${this.prefix}{crl}:index`,
      JSON.stringify(entry),
      ttlOf(entry.expiresAt, nowSeconds),
      entry.expiresAt,
      `${entry.jti} ${entry.revokedAtMs}`,
    );
    return existing ? { entry: JSON.parse(existing) as RevocationRecord, created: false } : { entry, created: true };
  }

  async markPublished(entry: RevocationRecord, seq: number) {
    await this.redis.set(`${this.prefix}{crl}:${entry.jti}`, JSON.stringify({ ...entry, seq }), 'KEEPTTL', 'XX');
  }

  async live(nowSeconds: number) {
    const index = `${this.prefix}{crl}:index`;
    const floor = nowSeconds - CLOCK_SKEW_SECONDS;
    const [, range] = (await this.redis.multi().zremrangebyscore(index, '-inf', `(${floor}`).zrangebyscore(index, floor, '+inf', 'WITHSCORES').exec()) ?? [];
    if (!range || range[0]) throw range?.[0] ?? new Error('Redis transaction failed');
    const flat = range[1] as string[];
    const out: LiveRevocation[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const [jti, revokedAtMs] = flat[i]!.split(' ');
      out.push({ jti: jti!, expiresAt: Number(flat[i + 1]), revokedAtMs: Number(revokedAtMs) });
    }
    return out;
  }
}

/** Redis when the deployment has it, else the in-process list (`ctp up`'s embedded default). */
export function revocationStore(redis: Redis | Cluster | undefined, prefix?: string): RevocationStore {
  return redis ? new RedisRevocationStore(redis, prefix) : new MemoryRevocationStore();
}
