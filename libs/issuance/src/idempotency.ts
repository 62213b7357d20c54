import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import canonicalize from 'canonicalize';
import { CtpError, type FieldError, type IssueRequest } from '@ctp/ctp-core';
import type { Partner } from '@ctp/partners';
import type { IssuedToken } from './issuance_service';

/** What is remembered per (partner, Idempotency-Key): the request it was first used with, and the token once issued. */
export interface IdempotencyRecord {
  bodyHash: string;
  state: 'pending' | 'done';
  response?: IssuedToken;
}

/**
 * Where idempotency records live: Redis for the services (shared by issuer replicas), in process
 * under `ctp up` without Redis. `claim` is atomic: exactly one request wins a free key.
 */
export interface IdempotencyStore {
  /** Takes `key` as pending for this body unless it is taken; returns the record that holds it when taken. */
  claim(key: string, bodyHash: string, ttlSeconds: number): Promise<IdempotencyRecord | null>;
  complete(key: string, record: IdempotencyRecord, ttlSeconds: number): Promise<void>;
  release(key: string): Promise<void>;
}

/** How long a claimed key waits for its issuance (signing, token registry, bus) before another request may take it. */
export const IDEMPOTENCY_PENDING_SECONDS = 30;
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
/** A Structured Field string (draft-ietf-httpapi-idempotency-key-header) or the same characters unquoted. */
const KEY_PATTERN = /^"?([\x21\x23-\x5b\x5d-\x7e]{1,255})"?$/;

const SWEEP_EVERY = 1024;

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly records = new Map<string, { record: IdempotencyRecord; expiresAtMs: number }>();
  private writes = 0;

  async claim(key: string, bodyHash: string, ttlSeconds: number) {
    const now = Date.now();
    if (++this.writes % SWEEP_EVERY === 0) for (const [k, v] of this.records) if (v.expiresAtMs <= now) this.records.delete(k);
    const held = this.records.get(key);
    if (held && held.expiresAtMs > now) return held.record;
    this.records.set(key, { record: { bodyHash, state: 'pending' }, expiresAtMs: now + ttlSeconds * 1000 });
    return null;
  }

  async complete(key: string, record: IdempotencyRecord, ttlSeconds: number) {
    this.records.set(key, { record, expiresAtMs: Date.now() + ttlSeconds * 1000 });
  }

  async release(key: string) {
    this.records.delete(key);
  }
}

/** Records in Redis at `<prefix>idem:<partner>:<sha256 of the key>`, expiring with the token they hold. */
export class RedisIdempotencyStore implements IdempotencyStore {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly prefix = 'ctp:',
  ) {}

  async claim(key: string, bodyHash: string, ttlSeconds: number): Promise<IdempotencyRecord | null> {
    const redisKey = `${this.prefix}idem:${key}`;
    const pending: IdempotencyRecord = { bodyHash, state: 'pending' };
    if ((await this.redis.set(redisKey, JSON.stringify(pending), 'EX', ttlSeconds, 'NX')) === 'OK') return null;
    const held = await this.redis.get(redisKey);
    // Expired between SET NX and GET: the key is free again, so take it.
    if (held === null) return this.claim(key, bodyHash, ttlSeconds);
    return JSON.parse(held) as IdempotencyRecord;
  }

  async complete(key: string, record: IdempotencyRecord, ttlSeconds: number) {
    await this.redis.set(`${this.prefix}idem:${key}`, JSON.stringify(record), 'EX', ttlSeconds);
  }

  async release(key: string) {
    await this.redis.del(`${this.prefix}idem:${key}`);
  }
}

/** Redis when the deployment has one (replicas share the records), else in process. */
export function idempotencyStore(redis: Redis | Cluster | undefined, prefix: string): IdempotencyStore {
  return redis ? new RedisIdempotencyStore(redis, prefix) : new MemoryIdempotencyStore();
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('base64url');

/** The key an Idempotency-Key header carries, or a `validation_failed` error naming the header. */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = typeof header === 'string' && header.startsWith('"') === header.endsWith('"') ? KEY_PATTERN.exec(header) : null;
  if (!match) {
    const error: FieldError = { field: IDEMPOTENCY_KEY_HEADER, rule: 'pattern', message: 'one key of 1..255 printable ASCII characters without " or \\, optionally in double quotes' };
    throw new CtpError('validation_failed', `${IDEMPOTENCY_KEY_HEADER}: ${error.message}`, { errors: [error] });
  }
  return match[1]!;
}

export interface IdempotentIssue {
  issued: IssuedToken;
  /** True when this answer repeats the token an earlier request with the same key and body got. */
  replayed: boolean;
}

/**
 * Runs `issue` at most once per (partner, key, body) within the token's lifetime: a repeat of
 * the same request gets the same token; the same key with another body is refused (422
 * `idempotency_key_reused`); a repeat while the first is still running is refused (409
 * `idempotency_key_in_progress`, retry). A failed issuance frees the key (nothing was issued).
 */
export async function issueIdempotently(
  store: IdempotencyStore,
  partner: Partner,
  key: string,
  request: IssueRequest,
  issue: () => Promise<IssuedToken>,
): Promise<IdempotentIssue> {
  const scoped = `${partner.id}:${sha256(key)}`;
  const bodyHash = sha256(canonicalize(request) ?? '');
  let held: IdempotencyRecord | null;
  try {
    held = await store.claim(scoped, bodyHash, IDEMPOTENCY_PENDING_SECONDS);
  } catch (error) {
    throw new CtpError('unavailable', 'the idempotency store (Redis) is unavailable; no token was issued', { cause: error });
  }
  if (held) {
    if (held.bodyHash !== bodyHash) throw new CtpError('idempotency_key_reused', `this ${IDEMPOTENCY_KEY_HEADER} was used with a different request body; use a new key for a new request`);
    if (held.state === 'pending' || !held.response) throw new CtpError('idempotency_key_in_progress', `a request with this ${IDEMPOTENCY_KEY_HEADER} is still being processed; retry in 1 s`);
    return { issued: held.response, replayed: true };
  }
  let issued: IssuedToken;
  try {
    issued = await issue();
  } catch (error) {
    await store.release(scoped).catch(() => undefined);
    throw error;
  }
  const ttlSeconds = Math.max(1, Math.ceil((Date.parse(issued.expires_at) - Date.now()) / 1000));
  // The token is issued either way; if remembering it fails, a retry meets the pending claim
  // (409) until it lapses, and never gets a second token meanwhile.
  await store.complete(scoped, { bodyHash, state: 'done', response: issued }, ttlSeconds).catch(() => undefined);
  return { issued, replayed: false };
}
