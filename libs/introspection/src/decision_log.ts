import type { IntrospectionResult } from '@ctp/ctp-core';
import { introspectionDecisionsEvent, publishEvent, type EventPublisher, type IntrospectionDecision } from '@ctp/events';

export interface DecisionLogOptions {
  events: EventPublisher;
  /** Decisions per ledger event (default 256) and the longest a decision waits (default 1 s). */
  batchSize?: number;
  flushMs?: number;
  /** Decisions kept while the bus is down; beyond this the oldest are dropped and counted. */
  maxBuffered?: number;
}

/**
 * Records introspection decisions in the ledger, batched into one event per
 * `batchSize` decisions or `flushMs`. Recording is off the hot path: `record` only
 * appends to a buffer.
 */
export class DecisionLog {
  private buffer: IntrospectionDecision[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  dropped = 0;

  constructor(private readonly options: DecisionLogOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.flushMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  record(result: IntrospectionResult, aud: string, purpose: string): void {
    this.buffer.push({ jti: result.jti, decision: result.decision, reason: result.reason, aud, purpose, at_ms: Date.now() });
    const max = this.options.maxBuffered ?? 100_000;
    if (this.buffer.length > max) {
      this.dropped += this.buffer.length - max;
      this.buffer.splice(0, this.buffer.length - max);
    }
    if (this.buffer.length >= (this.options.batchSize ?? 256)) void this.flush();
  }

  flush(): Promise<void> {
    this.flushing ??= (async () => {
      try {
        while (this.buffer.length > 0) {
          const batch = this.buffer.slice(0, this.options.batchSize ?? 256);
          await publishEvent(this.options.events, introspectionDecisionsEvent(batch));
          this.buffer.splice(0, batch.length);
        }
      } catch {
        // The bus is down: keep the batch and try again on the next tick.
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }
}
