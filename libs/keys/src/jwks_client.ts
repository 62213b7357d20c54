import type { KeyObject } from 'node:crypto';
import { importEs256Jwk } from '@ctp/ctp-core';
import type { VerificationKeys } from './verification_keys';

export interface JwksClientOptions {
  /** Minimum time between fetches triggered by unknown kids. */
  cooldownMs?: number;
  /** Background refresh period. */
  refreshMs?: number;
  timeoutMs?: number;
}

const MAX_JWKS_BYTES = 256 * 1024;

/**
 * Verification keys from the issuer's JWKS, cached by kid. An unknown kid triggers
 * one refetch, at most once per cooldown, so a flood of forged kids cannot turn
 * into a flood of requests to the issuer. Only ES256 P-256 public keys are kept.
 */
export class JwksClient implements VerificationKeys {
  private keys = new Map<string, KeyObject>();
  private lastFetch = 0;
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private fetched = false;
  private readonly cooldownMs: number;
  private readonly refreshMs: number;
  private readonly timeoutMs: number;

  constructor(
    readonly url: string,
    options: JwksClientOptions = {},
  ) {
    this.cooldownMs = options.cooldownMs ?? 1000;
    this.refreshMs = options.refreshMs ?? 60_000;
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /** True once a JWKS has been fetched. */
  get ready(): boolean {
    return this.fetched;
  }

  start(): void {
    void this.refresh().catch(() => undefined);
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The cached key for `kid`, without any I/O. */
  cached(kid: string): KeyObject | undefined {
    return this.keys.get(kid);
  }

  /** The key for `kid`, refetching the JWKS once if it is unknown and the cooldown allows. */
  async resolve(kid: string): Promise<KeyObject | undefined> {
    const key = this.keys.get(kid);
    if (key || Date.now() - this.lastFetch < this.cooldownMs) return key;
    await this.refresh().catch(() => undefined);
    return this.keys.get(kid);
  }

  refresh(): Promise<void> {
    this.inflight ??= this.fetchKeys().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetchKeys(): Promise<void> {
    this.lastFetch = Date.now();
    const response = await fetch(this.url, { signal: AbortSignal.timeout(this.timeoutMs), redirect: 'error' });
    if (!response.ok) throw new Error(`JWKS fetch failed: HTTP ${response.status}`);
    const text = await response.text();
    if (text.length > MAX_JWKS_BYTES) throw new Error('JWKS response too large');
    const body = JSON.parse(text) as { keys?: unknown };
    if (!Array.isArray(body.keys)) throw new Error('JWKS has no keys array');
    const keys = new Map<string, KeyObject>();
    for (const jwk of body.keys) {
      const imported = importEs256Jwk(jwk);
      if (imported) keys.set(imported.kid, imported.key);
    }
    this.keys = keys;
    this.fetched = true;
  }
}
