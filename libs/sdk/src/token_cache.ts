import { MAX_TOKEN_TTL_SECONDS, type ContextEnvelope } from '@ctp/ctp-core';
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
    this.entries.delete(key);
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.issue(key, subject, envelope).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  /** Drops every token of a person (consent withdrawn: the next get() needs new consent). Returns their jtis. */
  forget(subject: string): string[] {
    const jtis: string[] = [];
    for (const [key, entry] of this.entries) {
      if (entry.subject !== subject) continue;
      jtis.push(entry.issued.jti);
      this.entries.delete(key);
    }
    return jtis;
  }

  get size(): number {
    return this.entries.size;
  }

  private async issue(key: string, subject: string, envelope: ContextEnvelope): Promise<IssuedToken> {
    const requestedAt = this.now();
    const issued = await this.options.client.issue(envelope, { subjectRef: subject });
    const expiresAt = Math.min(Date.parse(issued.expires_at), requestedAt + MAX_TOKEN_TTL_SECONDS * 1000);
    const entry: Entry = { issued, staleAtMs: expiresAt - this.refreshBeforeMs, subject };
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, entry);
    return issued;
  }
}
