import { Redis } from 'ioredis';
import { CLOCK_SKEW_SECONDS } from '@ctp/ctp-core';

/** A certificate-revocation-list entry: one revoked jti. */
export interface CrlEntry {
  jti: string;
  partnerId: string;
  reason: string;
  revokedAtMs: number;
  /** Seconds since the epoch when the token expires anyway. */
  expiresAt: number;
  /** Bus sequence once the revocation has been published. */
  seq?: number;
}

export type LiveRevocation = Pick<CrlEntry, 'jti' | 'expiresAt' | 'revokedAtMs'>;

export interface TokenOwner {
  partnerId: string;
  expiresAt: number;
}

/**
 * The shared revocation list. Entries expire with their tokens (plus skew), so its
 * size is bounded by the revocations of the last few minutes.
 */
export interface CrlStore {
  /** Stores the entry unless the jti is already revoked; returns what is stored. */
  record(entry: CrlEntry, nowSeconds: number): Promise<{ entry: CrlEntry; created: boolean }>;
  markPublished(entry: CrlEntry, seq: number): Promise<void>;
  /** Every revoked jti whose token may still be live. */
  live(nowSeconds: number): Promise<LiveRevocation[]>;
  setOwner(jti: string, owner: TokenOwner, nowSeconds: number): Promise<void>;
  owner(jti: string): Promise<TokenOwner | null>;
  /** Seconds since the epoch on the store's clock (for skew checks). */
  time(): Promise<number>;
  close(): Promise<void>;
}

const ttlOf = (expiresAt: number, nowSeconds: number) => Math.max(1, Math.ceil(expiresAt - nowSeconds + CLOCK_SKEW_SECONDS));

const PRUNE_EVERY = 1024;

/** In-process CRL for `ctp up`. Expired entries and owners are swept every PRUNE_EVERY writes. */
export class MemoryCrl implements CrlStore {
  private readonly entries = new Map<string, CrlEntry>();
  private readonly owners = new Map<string, TokenOwner>();
  private writes = 0;

  async record(entry: CrlEntry, nowSeconds: number) {
    this.maybePrune(nowSeconds);
    const existing = this.entries.get(entry.jti);
    if (existing) return { entry: { ...existing }, created: false };
    this.entries.set(entry.jti, { ...entry });
    return { entry: { ...entry }, created: true };
  }

  async markPublished(entry: CrlEntry, seq: number) {
    const stored = this.entries.get(entry.jti);
    if (stored) stored.seq = seq;
  }

  async live(nowSeconds: number) {
    return [...this.entries.values()]
      .filter((e) => e.expiresAt + CLOCK_SKEW_SECONDS >= nowSeconds).map(({ jti, expiresAt, revokedAtMs }) => ({ jti, expiresAt, revokedAtMs }));
  }

  async setOwner(jti: string, owner: TokenOwner, nowSeconds: number) {
    this.maybePrune(nowSeconds);
    this.owners.set(jti, owner);
  }

  async owner(jti: string) {
    return this.owners.get(jti) ?? null;
  }

  async time() {
    return Date.now() / 1000;
  }

  async close() {
    // Nothing to release in process.
  }

  private maybePrune(nowSeconds: number) {
    if (++this.writes % PRUNE_EVERY !== 0) return;
    for (const [jti, e] of this.entries) if (e.expiresAt + CLOCK_SKEW_SECONDS < nowSeconds) this.entries.delete(jti);
    for (const [jti, o] of this.owners) if (o.expiresAt + CLOCK_SKEW_SECONDS < nowSeconds) this.owners.delete(jti);
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

export interface RedisCrlOptions {
  url: string;
  /** Key prefix; tests use a fresh one each. */
  prefix?: string;
}

/**
 * CRL in Redis: `<prefix>crl:<jti>` holds the entry (TTL = remaining token life +
 * skew), `<prefix>crl:index` orders "<jti> <revokedAtMs>" by expiry for backfills, and
 * `<prefix>owner:<jti>` records which partner a token was issued to.
 */
export class RedisCrl implements CrlStore {
  readonly redis: Redis;
  private readonly prefix: string;

  constructor(options: RedisCrlOptions) {
    this.prefix = options.prefix ?? 'ctp:';
    this.redis = new Redis(options.url, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      connectTimeout: 2_000,
      commandTimeout: 2_000,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    });
    this.redis.on('error', () => undefined);
    this.redis.defineCommand('ctpRecord', { numberOfKeys: 2, lua: RECORD_SCRIPT });
  }

  /** Resolves once connected (or rejects naming the server). */
  async ready(): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Redis is not reachable at ${this.redis.options.host}:${this.redis.options.port}`)), 5_000);
      this.redis.once('ready', () => (clearTimeout(timer), resolve()));
    });
  }

  async record(entry: CrlEntry, nowSeconds: number) {
    const run = (this.redis as unknown as { ctpRecord: (...args: (string | number)[]) => Promise<string | null> }).ctpRecord;
    const existing = await run.call(
      this.redis,
      `${this.prefix}crl:${entry.jti}`,
      `${this.prefix}crl:index`,
      JSON.stringify(entry),
      ttlOf(entry.expiresAt, nowSeconds),
      entry.expiresAt,
      `${entry.jti} ${entry.revokedAtMs}`,
    );
    return existing ? { entry: JSON.parse(existing) as CrlEntry, created: false } : { entry, created: true };
  }

  async markPublished(entry: CrlEntry, seq: number) {
    await this.redis.set(`${this.prefix}crl:${entry.jti}`, JSON.stringify({ ...entry, seq }), 'KEEPTTL', 'XX');
  }

  async live(nowSeconds: number) {
    const index = `${this.prefix}crl:index`;
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

  async setOwner(jti: string, owner: TokenOwner, nowSeconds: number) {
    await this.redis.set(`${this.prefix}owner:${jti}`, JSON.stringify(owner), 'EX', ttlOf(owner.expiresAt, nowSeconds));
  }

  async owner(jti: string) {
    const raw = await this.redis.get(`${this.prefix}owner:${jti}`);
    return raw ? (JSON.parse(raw) as TokenOwner) : null;
  }

  async time() {
    const [seconds, micros] = await this.redis.time();
    return Number(seconds) + Number(micros) / 1e6;
  }

  async close() {
    this.redis.disconnect();
  }
}

/** Redis when a URL is configured, else the in-process CRL (`ctp up`'s embedded default). */
export async function openCrl(redisUrl: string | undefined, prefix?: string): Promise<CrlStore> {
  if (!redisUrl) return new MemoryCrl();
  const crl = new RedisCrl({ url: redisUrl, prefix });
  try {
    await crl.ready();
  } catch (error) {
    await crl.close();
    throw error;
  }
  return crl;
}

/** The Redis connection behind a CRL, for other per-deployment state (rate limits, clock checks); undefined in process. */
export function redisOf(crl: CrlStore): Redis | undefined {
  return crl instanceof RedisCrl ? crl.redis : undefined;
}
