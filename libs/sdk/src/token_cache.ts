import { CLOCK_SKEW_SECONDS, MAX_TOKEN_TTL_SECONDS, type ContextEnvelope } from '@ctp/ctp-core';
import type { CtpClient, IssuedToken } from './client';
import { envelopeHashOf } from './envelope';

export interface TokenCacheOptions {
  client: Pick<CtpClient, 'issue'>;
  /** Re-issue this long before a token expires (default 10 s), so a token is never used at its last second. */
  refreshBeforeMs?: number;
  /** Tokens kept; the least recently used leaves first (default 10,000). */
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  issued: IssuedToken;
  /** When this entry stops being served: the token's expiry (never more than 300 s after issuance) minus the margin. */
  staleAtMs: number;
  subject: string;
  /** The token's expiry (ms): until then plus the skew, verifiers may still accept it. */
  expiresAtMs: number;
}

/**
 * Tokens per (subject, envelope binding), as the guide asks: kept at most until `expires_at`
 * and never longer than 300 s, re-issued when the binding changes (purpose, features, copy or
 * any other hashed field: the key is the context hash) and after revocation. Concurrent
 * requests for one key share one issuance.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<IssuedToken>>();
  /** Tokens no longer served (replaced or evicted) that verifiers may still accept: forget() revokes them too. */
  private readonly retired = new Map<string, { jti: string; acceptedUntilMs: number }[]>();
  private readonly refreshBeforeMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly options: TokenCacheOptions) {
    this.refreshBeforeMs = options.refreshBeforeMs ?? 10_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** A live token for this person and envelope: cached, or issued now. Call only once the person agreed. */
  async get(subject: string, envelope: ContextEnvelope): Promise<IssuedToken> {
    const key = `${subject}\u0000${envelopeHashOf(envelope)}`;
    const entry = this.entries.get(key);
    if (entry && this.now() < entry.staleAtMs) {
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry.issued;
    }
    if (entry) this.retire(key, entry);
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.issue(key, subject, envelope).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  /**
   * Drops every token of a person (consent withdrawn: the next get() needs new consent) and resolves
   * to the jtis to revoke: the cached ones, those replaced or evicted that may still be accepted, and
   * those of issuances still running.
   */
  async forget(subject: string): Promise<string[]> {
    // An issuance still running for this person would otherwise land after the withdrawal.
    const prefix = `${subject}\u0000`;
    await Promise.allSettled([...this.pending].filter(([key]) => key.startsWith(prefix)).map(([, p]) => p));
    const now = this.now();
    const jtis = (this.retired.get(subject) ?? []).filter((r) => r.acceptedUntilMs > now).map((r) => r.jti);
    this.retired.delete(subject);
    for (const [key, entry] of this.entries) {
      if (entry.subject !== subject) continue;
      jtis.push(entry.issued.jti);
      this.entries.delete(key);
    }
    return jtis;
  }

  private retire(key: string, entry: Entry): void {
    this.entries.delete(key);
    const now = this.now();
    const kept = (this.retired.get(entry.subject) ?? []).filter((r) => r.acceptedUntilMs > now);
    kept.push({ jti: entry.issued.jti, acceptedUntilMs: entry.expiresAtMs + CLOCK_SKEW_SECONDS * 1000 });
    this.retired.set(entry.subject, kept);
  }

  get size(): number {
    return this.entries.size;
  }

  private async issue(key: string, subject: string, envelope: ContextEnvelope): Promise<IssuedToken> {
    const requestedAt = this.now();
    const issued = await this.options.client.issue(envelope, { subjectRef: subject });
    const expiresAt = Math.min(Date.parse(issued.expires_at), requestedAt + MAX_TOKEN_TTL_SECONDS * 1000);
    const entry: Entry = { issued, staleAtMs: expiresAt - this.refreshBeforeMs, subject, expiresAtMs: Date.parse(issued.expires_at) };
    if (this.entries.size >= this.maxEntries) {
      const [oldestKey, oldest] = this.entries.entries().next().value!;
      this.retire(oldestKey, oldest);
    }
    this.entries.set(key, entry);
    return issued;
  }
}
