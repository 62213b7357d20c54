import type { BusStatus, EventBus, Subscription } from '@ctp/bus';
import { CLOCK_SKEW_SECONDS, REVOCATION_REPLAY_WINDOW_SECONDS } from '@ctp/ctp-core';
import { ALL_REVOCATIONS, REVOCATION_STREAM, type ConsentRevokedEvent as RevocationEvent } from '@ctp/events';
import { consumeSpan, revocationPropagation, revocationPushSilent, revocationStale, watchConsumerLag } from '@ctp/telemetry';
import type { RevocationList } from './revocation_list';
import type { RevocationStore } from './revocation_store';

export interface RevocationSyncOptions {
  bus: EventBus;
  store: Pick<RevocationStore, 'live'>;
  /** How often the CRL is read while push is not delivering (the pull fallback). */
  pullIntervalMs?: number;
  /** How long the view stays trusted without push and without a successful CRL read. */
  staleAfterMs?: number;
  onError?: (error: unknown) => void;
}

/**
 * An introspector's local revoked-jti set. Push: at start the revocation stream is
 * replayed over the replay window (the longest token lifetime plus skew), then every
 * revocation lands here as it is published. Pull: the Redis CRL is read at start, after
 * every bus reconnect and, while push is not delivering, every pull interval. So neither a restart, nor a NATS
 * outage, nor a Redis restart reopens a revoked token.
 *
 * Fail-closed rule: the view is fresh while the bus is connected and its
 * subscription healthy, or while the last time push delivered or the last successful
 * CRL read is younger than `staleAfterMs`. When neither holds,
 * `fresh` is false and the introspector denies with `revocation_unavailable`.
 *
 * Push resumes after the last event it delivered whenever the bus comes back, so the view
 * converges on the stream: the same revoked set a freshly started view replays, whatever
 * restarted (NATS, Redis, both, in either order). A push channel that stays silent on a
 * connected bus is a fault of this process, not an outage, so `ready` turns false after
 * `staleAfterMs` of it even while the CRL keeps the view fresh.
 */
export class RevocationSync implements RevocationList {
  private readonly revoked = new Map<string, number>();
  private subscription: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastCrlReadMs = 0;
  /** Last tick at which push was delivering: the view was current then, as after a CRL read. */
  private lastPushMs = 0;
  /** Last time push delivered, or was excused by a bus outage (pull is the fallback then). */
  private pushOkMs = Date.now();
  /** Revocations older than this were caught up on at start: not a propagation measurement. */
  private liveSinceMs = Infinity;
  private readonly pullIntervalMs: number;
  private readonly staleAfterMs: number;
  /** Stream sequence of the last revocation handled: the position its lag is measured from. */
  private handledSeq = 0;
  private unwatchLag: (() => void) | undefined;

  constructor(private readonly options: RevocationSyncOptions) {
    this.pullIntervalMs = options.pullIntervalMs ?? 1_000;
    this.staleAfterMs = options.staleAfterMs ?? 5_000;
  }

  /**
   * Replays the stream's last token lifetime and then follows it live (the stream
   * is the durable record: it survives a Redis restart), then reads the CRL too.
   */
  async start(): Promise<void> {
    this.liveSinceMs = Date.now();
    this.pushOkMs = this.liveSinceMs;
    // The replay below starts inside the stream; measuring lag from its end until the first event
    // under-reports the replay's own backlog for a moment, never a live one.
    this.handledSeq = await this.options.bus.lastSeq(REVOCATION_STREAM).catch(() => 0);
    const replayFrom = this.liveSinceMs - REVOCATION_REPLAY_WINDOW_SECONDS * 1000;
    this.subscription = await this.options.bus.subscribe<RevocationEvent>(
      { stream: REVOCATION_STREAM, filter: ALL_REVOCATIONS, fromTimeMs: replayFrom, onResume: () => void this.backfill() },
      (event) => {
        this.handledSeq = Math.max(this.handledSeq, event.seq);
        const { jti, expires_at: expiresAt, revoked_at_ms: revokedAtMs } = event.data;
        // A live revocation continues the revoke's trace (the span shows when this introspector
        // learned of it); the replay at start is neither traced nor measured.
        if (revokedAtMs < this.liveSinceMs) return this.add(jti, expiresAt, revokedAtMs, 'push');
        return consumeSpan('revocation-sync process', [event], async () => this.add(jti, expiresAt, revokedAtMs, 'push'));
      },
    );
    this.options.bus.onStatus((status: BusStatus) => {
      if (status === 'connected') void this.backfill();
    });
    await this.backfill();
    this.timer = setInterval(() => void this.tick(), this.pullIntervalMs);
    this.timer.unref();
    this.unwatchLag = watchConsumerLag({ consumer: 'revocation-sync', stream: REVOCATION_STREAM }, () =>
      this.options.bus.backlog({ stream: REVOCATION_STREAM, filter: ALL_REVOCATIONS, afterSeq: this.handledSeq }),
    );
  }

  async stop(): Promise<void> {
    this.unwatchLag?.();
    clearInterval(this.timer);
    await this.subscription?.stop();
  }

  isRevoked(jti: string): boolean {
    return this.revoked.has(jti);
  }

  get fresh(): boolean {
    return this.pushing || Date.now() - Math.max(this.lastCrlReadMs, this.lastPushMs) <= this.staleAfterMs;
  }

  /** Revocations arrive over the bus as they are published. */
  get pushing(): boolean {
    return this.subscription?.healthy === true && this.options.bus.status === 'connected';
  }

  /**
   * Readiness: the view is fresh, and push is delivering or only briefly not (or the bus
   * itself is down, when every replica lives on pull and none should leave the pool for it).
   */
  get ready(): boolean {
    const pushExcused = this.pushing || this.options.bus.status !== 'connected' || Date.now() - this.pushOkMs <= this.staleAfterMs;
    return this.fresh && pushExcused;
  }

  get size(): number {
    return this.revoked.size;
  }

  /** Reads every live entry of the CRL into the view. */
  async backfill(): Promise<boolean> {
    try {
      const nowMs = Date.now();
      for (const r of await this.options.store.live(nowMs / 1000)) this.add(r.jti, r.expiresAt, r.revokedAtMs, 'pull');
      this.lastCrlReadMs = nowMs;
      return true;
    } catch (error) {
      this.options.onError?.(error);
      return false;
    } finally {
      revocationStale.set(this.fresh ? 0 : 1);
    }
  }

  private async tick(): Promise<void> {
    const nowSeconds = Date.now() / 1000;
    for (const [jti, expiresAt] of this.revoked) if (expiresAt + CLOCK_SKEW_SECONDS < nowSeconds) this.revoked.delete(jti);
    if (this.pushing) this.lastPushMs = Date.now();
    if (this.pushing || this.options.bus.status !== 'connected') this.pushOkMs = Date.now();
    if (!this.pushing) await this.backfill();
    revocationStale.set(this.fresh ? 0 : 1);
    revocationPushSilent.set(this.pushing ? 0 : 1);
  }

  private add(jti: string, expiresAt: number, revokedAtMs: number, channel: 'push' | 'pull'): void {
    if (this.revoked.has(jti) || expiresAt + CLOCK_SKEW_SECONDS < Date.now() / 1000) return;
    this.revoked.set(jti, expiresAt);
    if (revokedAtMs >= this.liveSinceMs) revocationPropagation.observe({ channel }, Math.max(0, Date.now() - revokedAtMs) / 1000);
  }
}
