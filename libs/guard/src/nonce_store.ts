import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/**
 * Challenge nonces cost no storage until they are used. A nonce is its issue time (8 bytes), 8
 * random bytes and the first 16 bytes of HMAC-SHA-256 over both under the guard's nonce secret,
 * base64url (43 characters): a challenge only mints one, so unsigned requests, however many, store
 * nothing. Single use is kept where it matters: once a request's signature verified under a
 * registered key, its nonce is claimed in a NonceStore for the rest of its lifetime, so a replay
 * (or a reordered copy) finds it claimed.
 */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const NONCE_BYTES = 32;
const MAC_INPUT_BYTES = 16;

/** Where claimed nonces are remembered for their lifetime: RedisNonceStore across replicas, MemoryNonceStore in one process. */
export interface NonceStore {
  /** Records `nonce` as used for `ttlMs`; false when it was already used (or cannot be remembered). */
  claim(nonce: string, ttlMs: number): Promise<boolean>;
}

/** Mints and redeems the guard's challenge nonces (see NONCE_PATTERN). */
export class ChallengeNonces {
  private readonly secret: Buffer;

  /**
   * `secret`: at least 32 bytes, the same on every replica behind one route (a challenge from one
   * replica is answered to another); default random, which serves one replica.
   */
  constructor(
    private readonly store: NonceStore,
    secret?: Uint8Array,
    private readonly now: () => number = Date.now,
  ) {
    if (secret !== undefined && secret.length < 32) throw new TypeError('the nonce secret must have at least 32 bytes');
    this.secret = Buffer.from(secret ?? randomBytes(32));
  }

  mint(issuedAtMs = this.now()): string {
    const nonce = Buffer.alloc(NONCE_BYTES);
    nonce.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(issuedAtMs))), 0);
    randomBytes(8).copy(nonce, 8);
    this.mac(nonce).copy(nonce, MAC_INPUT_BYTES, 0, NONCE_BYTES - MAC_INPUT_BYTES);
    return nonce.toString('base64url');
  }

  /** The issue time of a nonce this guard minted, unexpired and used for the first time (claimed from now on); else null. */
  async redeem(nonce: string, ttlMs: number): Promise<number | null> {
    if (!NONCE_PATTERN.test(nonce)) return null;
    const bytes = Buffer.from(nonce, 'base64url');
    if (bytes.length !== NONCE_BYTES || !timingSafeEqual(bytes.subarray(MAC_INPUT_BYTES), this.mac(bytes).subarray(0, NONCE_BYTES - MAC_INPUT_BYTES))) return null;
    const issuedAtMs = Number(bytes.readBigUInt64BE(0));
    const age = this.now() - issuedAtMs;
    if (age < 0 || age >= ttlMs) return null;
    return (await this.store.claim(nonce, ttlMs - age)) ? issuedAtMs : null;
  }

  private mac(nonce: Buffer): Buffer {
    return createHmac('sha256', this.secret).update(nonce.subarray(0, MAC_INPUT_BYTES)).digest();
  }
}

/** Claimed nonces in Redis: SET NX PX (atomic across every guard replica). */
export class RedisNonceStore implements NonceStore {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly prefix = 'ctp:guard:nonce:',
  ) {}

  async claim(nonce: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.prefix + nonce, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK';
  }
}

/**
 * Claimed nonces in this process (`ctp up`, one replica): a Map with expiry, bounded. A claimed
 * nonce is never forgotten before it expires (that would let its request be replayed): when the
 * map is full of unexpired ones, further claims fail and their requests get a new challenge.
 * Only requests whose signature verified under a registered key claim, so the bound
 * (`maxEntries` per nonce lifetime) is a rate of authenticated requests.
 */
export class MemoryNonceStore implements NonceStore {
  private readonly claimed = new Map<string, number>();
  private sweptAtMs = -Infinity;

  constructor(
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  async claim(nonce: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const expiresAtMs = this.claimed.get(nonce);
    if (expiresAtMs !== undefined && expiresAtMs > now) return false;
    // A full map is swept at most once a second (a sweep walks every entry).
    if (this.claimed.size >= this.maxEntries && now - this.sweptAtMs >= 1000) this.sweep(now);
    if (this.claimed.size >= this.maxEntries) return false;
    this.claimed.set(nonce, now + ttlMs);
    return true;
  }

  get size(): number {
    return this.claimed.size;
  }

  private sweep(now: number): void {
    this.sweptAtMs = now;
    for (const [nonce, expiresAtMs] of this.claimed) if (expiresAtMs <= now) this.claimed.delete(nonce);
  }
}
