import type { BusStatus, EventBus, Subscription } from '@ctp/bus';
import { CLOCK_SKEW_SECONDS, MAX_TOKEN_TTL_SECONDS } from '@ctp/ctp-core';
import { consumeSpan, revocationPropagation, revocationStale, watchConsumerLag } from '@ctp/telemetry';
import type { CrlStore } from './crl';
import { ALL_REVOCATIONS, REVOCATION_STREAM, type ConsentRevokedEvent as RevocationEvent } from '@ctp/events';
import type { RevocationList } from './revocation_list';

export interface RevocationSyncOptions {
  bus: EventBus;
  crl: CrlStore;
  /** How often the CRL is read while the bus is down (the pull fallback). */
  pullIntervalMs?: number;
  /** How long the view stays trusted without the bus and without a successful CRL read. */
  staleAfterMs?: number;
  onError?: (error: unknown) => void;
}

/**
 * An introspector's local revoked-jti set. Push: at start the revocation stream is
 * replayed over the longest token lifetime, then every revocation lands here as it
 * is published. Pull: the Redis CRL is read at start, after every bus reconnect
 * and, while the bus is down, every pull interval. So neither a restart, nor a NATS
 * outage, nor a Redis restart reopens a revoked token.
 *
 * Fail-closed rule: the view is fresh while the bus is connected and its
 * subscription healthy, or while the last successful CRL read is younger than
 * `staleAfterMs`. When neither holds,
 * `fresh` is false and the introspector denies with `revocation_unavailable`.
 */
export class RevocationSync implements RevocationList {
  private readonly revoked = new Map<string, number>();
  private subscription: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastCrlReadMs = 0;
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
    // The replay below starts inside the stream; measuring lag from its end until the first event
    // under-reports the replay's own backlog for a moment, never a live one.
    this.handledSeq = await this.options.bus.lastSeq(REVOCATION_STREAM).catch(() => 0);
    const replayFrom = this.liveSinceMs - (MAX_TOKEN_TTL_SECONDS + 2 * CLOCK_SKEW_SECONDS) * 1000;
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
    const pushing = this.subscription?.healthy === true && this.options.bus.status === 'connected';
    return pushing || Date.now() - this.lastCrlReadMs <= this.staleAfterMs;
  }

  get size(): number {
    return this.revoked.size;
  }

  /** Reads every live entry of the CRL into the view. */
  async backfill(): Promise<boolean> {
    try {
      const nowMs = Date.now();
      for (const r of await this.options.crl.live(nowMs / 1000)) this.add(r.jti, r.expiresAt, r.revokedAtMs, 'pull');
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
    if (this.options.bus.status !== 'connected' || this.subscription?.healthy !== true) await this.backfill();
    revocationStale.set(this.fresh ? 0 : 1);
  }

  private add(jti: string, expiresAt: number, revokedAtMs: number, channel: 'push' | 'pull'): void {
    if (this.revoked.has(jti) || expiresAt + CLOCK_SKEW_SECONDS < Date.now() / 1000) return;
    this.revoked.set(jti, expiresAt);
    if (revokedAtMs >= this.liveSinceMs) revocationPropagation.observe({ channel }, Math.max(0, Date.now() - revokedAtMs) / 1000);
  }
}
