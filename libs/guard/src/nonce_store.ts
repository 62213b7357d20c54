import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/** 128 random bits, base64url: what a challenge hands out and a signature's `nonce` parameter must carry. */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

export const NONCE_PATTERN = /^[A-Za-z0-9_-]{22}$/;

/**
 * Single-use challenge nonces. `issue` remembers a nonce with its issue time for `ttlMs`; `consume`
 * returns that time and forgets the nonce in one atomic step, so a second use of it (a replayed
 * request) finds nothing. Both are O(1).
 */
export interface NonceStore {
  issue(nonce: string, issuedAtMs: number, ttlMs: number): Promise<void>;
  /** The issue time of an unexpired, unused nonce (and it is used from now on), or null. */
  consume(nonce: string): Promise<number | null>;
}

/** Nonces in Redis: SET NX PX to issue, GETDEL to consume (atomic across every guard replica). */
export class RedisNonceStore implements NonceStore {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly prefix = 'ctp:guard:nonce:',
  ) {}

  async issue(nonce: string, issuedAtMs: number, ttlMs: number): Promise<void> {
    const set = await this.redis.set(this.prefix + nonce, String(issuedAtMs), 'PX', ttlMs, 'NX');
    if (set !== 'OK') throw new Error('nonce collision');
  }

  async consume(nonce: string): Promise<number | null> {
    const value = await this.redis.getdel(this.prefix + nonce);
    return value === null ? null : Number(value);
  }
}

/**
 * Nonces in this process (`ctp up`, one replica): a Map with expiry, bounded. When it is full the
 * expired entries are swept; if none expired, the oldest nonce is dropped (its request gets a new challenge).
 */
export class MemoryNonceStore implements NonceStore {
  private readonly nonces = new Map<string, { issuedAtMs: number; expiresAtMs: number }>();

  constructor(
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  async issue(nonce: string, issuedAtMs: number, ttlMs: number): Promise<void> {
    if (this.nonces.has(nonce)) throw new Error('nonce collision');
    if (this.nonces.size >= this.maxEntries) this.sweep();
    this.nonces.set(nonce, { issuedAtMs, expiresAtMs: this.now() + ttlMs });
  }

  async consume(nonce: string): Promise<number | null> {
    const entry = this.nonces.get(nonce);
    if (!entry) return null;
    this.nonces.delete(nonce);
    return entry.expiresAtMs > this.now() ? entry.issuedAtMs : null;
  }

  get size(): number {
    return this.nonces.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [nonce, entry] of this.nonces) if (entry.expiresAtMs <= now) this.nonces.delete(nonce);
    const oldest = this.nonces.keys().next();
    if (this.nonces.size >= this.maxEntries && !oldest.done) this.nonces.delete(oldest.value);
  }
}
