import { CLOCK_SKEW_SECONDS, MAX_TOKEN_TTL_SECONDS } from '@ctp/ctp-core';
import { readSse } from './sse';

export interface RevocationFollowerOptions {
  baseUrl: string;
  apiKey?: string;
  fetch?: typeof fetch;
  /** Pull period while the push channel is down (default 1000 ms, CTP's advertised poll interval). */
  pullIntervalMs?: number;
  /** With neither a live push channel nor a pull this recent, the view is not fresh and verifiers deny (default 5000 ms). */
  staleAfterMs?: number;
  /** A push channel silent this long is treated as dead (default 35 s: two of CTP's 15 s heartbeats, plus margin). */
  pushIdleMs?: number;
  /** Deadline of each pull and of opening the push channel (default 2000 ms). */
  timeoutMs?: number;
  onError?: (error: unknown) => void;
}

interface PartnerRevocation {
  cursor: string;
  jti: string;
  revoked_at: string;
}

/**
 * A revocation matters while a token it names can still be accepted: a token lives at most 300 s
 * and is accepted 60 s past exp; one more skew covers the clocks of CTP and this process.
 */
const KEEP_MS = (MAX_TOKEN_TTL_SECONDS + 2 * CLOCK_SKEW_SECONDS) * 1000;
const RECONNECT_CAP_MS = 5000;

/**
 * This partner's revoked jtis, followed like CTP's own introspectors follow the bus: first a
 * catch-up through the pull feed (`GET /revocations?since=`), then the push channel
 * (`/revocations/stream`, Server-Sent Events resumed with Last-Event-ID from the last cursor),
 * and the pull feed every second whenever push is down. `fresh` says whether the view is
 * provably current: a live push channel, or a successful pull within `staleAfterMs`.
 */
export class RevocationFollower {
  private readonly revoked = new Map<string, number>();
  private readonly listeners = new Set<(jti: string) => void>();
  private cursor = '0';
  private pushLive = false;
  private lastActivityMs = 0;
  private lastPullOkMs = -Infinity;
  private stopped = false;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pulling: Promise<void> | undefined;
  private pushLoop: Promise<void> | undefined;
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;
  private readonly pullIntervalMs: number;
  private readonly staleAfterMs: number;
  private readonly pushIdleMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: RevocationFollowerOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? fetch;
    this.pullIntervalMs = options.pullIntervalMs ?? 1000;
    this.staleAfterMs = options.staleAfterMs ?? 5000;
    this.pushIdleMs = options.pushIdleMs ?? 35_000;
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /** Catches up through the pull feed, then follows the push channel, in the background (see `fresh`). */
  start(): void {
    this.pushLoop = (async () => {
      await this.pullOnce();
      await this.followPush();
    })();
    this.timer = setInterval(() => this.tick(), this.pullIntervalMs);
    this.timer.unref();
  }

  /** Resolves once the view is fresh; rejects after `timeoutMs`. */
  async ready(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.fresh) {
      if (this.stopped || Date.now() > deadline) throw new Error(`the revocation view of ${this.base} did not become fresh within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.controller?.abort();
    await this.pushLoop;
    await this.pulling;
  }

  isRevoked(jti: string): boolean {
    return this.revoked.has(jti);
  }

  get fresh(): boolean {
    const now = Date.now();
    return (this.pushLive && now - this.lastActivityMs < this.pushIdleMs) || now - this.lastPullOkMs < this.staleAfterMs;
  }

  /**
   * For a view that looks stale because this process was too busy to read its channels: one I/O
   * turn reads what is buffered (revocations, heartbeats); without push, a due pull is awaited for
   * at most `maxWaitMs`. Returns `fresh`.
   */
  async refresh(maxWaitMs: number): Promise<boolean> {
    await new Promise((resolve) => setImmediate(resolve));
    if (this.fresh || this.pushLive || this.stopped) return this.fresh;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.pullOnce(), new Promise((resolve) => (timer = setTimeout(resolve, maxWaitMs)))]);
    clearTimeout(timer);
    return this.fresh;
  }

  /** Called with each newly revoked jti; returns an unsubscribe function. */
  onRevoked(listener: (jti: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private headers(): Record<string, string> {
    return this.options.apiKey === undefined ? {} : { authorization: `Bearer ${this.options.apiKey}` };
  }

  private add(revocation: PartnerRevocation): void {
    if (typeof revocation.jti !== 'string') return;
    const revokedAt = Date.parse(revocation.revoked_at);
    const keepUntil = (Number.isNaN(revokedAt) ? Date.now() : revokedAt) + KEEP_MS;
    const known = this.revoked.has(revocation.jti);
    this.revoked.set(revocation.jti, keepUntil);
    if (!known) for (const listener of this.listeners) listener(revocation.jti);
  }

  private tick(): void {
    const now = Date.now();
    for (const [jti, keepUntil] of this.revoked) if (keepUntil < now) this.revoked.delete(jti);
    if (this.pushLive && now - this.lastActivityMs >= this.pushIdleMs) this.controller?.abort();
    if (!this.pushLive && !this.stopped) void this.pullOnce();
  }

  private pullOnce(): Promise<void> {
    this.pulling ??= this.pull()
      .catch((error: unknown) => this.options.onError?.(error))
      .finally(() => (this.pulling = undefined));
    return this.pulling;
  }

  /** Reads the pull feed from the cursor until it has nothing more. */
  private async pull(): Promise<void> {
    for (;;) {
      const res = await this.fetchImpl(`${this.base}/revocations?since=${this.cursor}&limit=1000`, {
        headers: { accept: 'application/json', ...this.headers() },
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
      if (res.status === 410) {
        // cursor_expired: everything that could still matter is retained, so start over.
        await res.body?.cancel();
        this.cursor = '0';
        continue;
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`GET /revocations answered HTTP ${res.status}`);
      }
      const page = (await res.json()) as { revocations: PartnerRevocation[]; next_cursor: string; has_more: boolean };
      for (const revocation of page.revocations) this.add(revocation);
      this.cursor = page.next_cursor;
      if (!page.has_more) break;
    }
    this.lastPullOkMs = Date.now();
  }

  private async followPush(): Promise<void> {
    for (let failures = 0; !this.stopped; ) {
      const controller = new AbortController();
      this.controller = controller;
      const connectTimer = setTimeout(() => controller.abort(), this.timeoutMs);
      try {
        const res = await this.fetchImpl(`${this.base}/revocations/stream`, {
          headers: { accept: 'text/event-stream', 'last-event-id': this.cursor, ...this.headers() },
          signal: controller.signal,
          redirect: 'error',
        });
        clearTimeout(connectTimer);
        if (!res.ok || !res.body) throw new Error(`GET /revocations/stream answered HTTP ${res.status}`);
        this.lastActivityMs = Date.now();
        await readSse(
          res.body as unknown as AsyncIterable<Uint8Array>,
          (event) => {
            if (event.event === 'revocation') {
              this.add(JSON.parse(event.data) as PartnerRevocation);
              if (event.id !== undefined) this.cursor = event.id;
            } else if (event.event === 'ready') {
              if (event.id !== undefined) this.cursor = event.id;
              this.pushLive = true;
              failures = 0;
            } else if (event.event === 'error') {
              if (/cursor_expired/.test(event.data)) this.cursor = '0';
              throw new Error(`the revocation stream reported ${event.data}`);
            }
          },
          () => (this.lastActivityMs = Date.now()),
        );
        throw new Error('the revocation stream ended');
      } catch (error) {
        clearTimeout(connectTimer);
        this.pushLive = false;
        if (this.stopped) return;
        this.options.onError?.(error);
        failures++;
        // Full jitter, so a restarted CTP is not met by every partner process at the same instant.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(RECONNECT_CAP_MS, 100 * 2 ** failures)));
      }
    }
  }
}
