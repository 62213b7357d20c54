import type { IntrospectionResult } from '@ctp/ctp-core';
import { introspectionDecisionsEvent, publishEvent, type EventPublisher, type IntrospectionDecision } from '@ctp/events';
import { decisionsBuffered, decisionsDropped } from '@ctp/telemetry';

export interface DecisionLogOptions {
  events: EventPublisher;
  /** Decisions per ledger event (default 256: on `ctp up` the ledger appends an entry on the event loop, so a larger batch is a longer stall) and the longest a decision waits (default 1 s). */
  batchSize?: number;
  flushMs?: number;
  /** Decisions kept while the bus is down; beyond this the oldest are dropped and counted. */
  maxBuffered?: number;
}

/**
 * Decisions not yet handed to the bus, oldest first, in a fixed ring: recording one is
 * O(1) even when the buffer is full (dropping the oldest), where an array's splice
 * moved the whole buffer on every request.
 */
class DecisionRing {
  private readonly slots: (IntrospectionDecision | undefined)[];
  private head = 0;
  size = 0;

  constructor(readonly capacity: number) {
    this.slots = new Array<IntrospectionDecision | undefined>(capacity);
  }

  /** Appends at the end; returns how many of the oldest were dropped to make room (0 or 1). */
  push(decision: IntrospectionDecision): number {
    const dropped = this.size === this.capacity ? this.shift(1).length : 0;
    this.slots[(this.head + this.size) % this.capacity] = decision;
    this.size++;
    return dropped;
  }

  /** Removes and returns up to `n` of the oldest. */
  shift(n: number): IntrospectionDecision[] {
    const out: IntrospectionDecision[] = [];
    for (; out.length < n && this.size > 0; this.size--) {
      out.push(this.slots[this.head]!);
      this.slots[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
    }
    return out;
  }

  /** Puts decisions back in front of the others (a batch the bus refused); returns how many of them did not fit. */
  unshift(batch: IntrospectionDecision[]): number {
    const fits = Math.min(batch.length, this.capacity - this.size);
    for (let i = batch.length - 1; i >= batch.length - fits; i--) {
      this.head = (this.head - 1 + this.capacity) % this.capacity;
      this.slots[this.head] = batch[i];
      this.size++;
    }
    return batch.length - fits;
  }
}

/**
 * Records introspection decisions in the ledger, batched into one event per
 * `batchSize` decisions or `flushMs`. Recording is off the hot path: `record` only
 * appends to a bounded buffer; what the bus cannot take before the buffer fills is
 * dropped oldest-first and counted (ctp_introspection_decisions_dropped_total).
 */
export class DecisionLog {
  private readonly ring: DecisionRing;
  private readonly batchSize: number;
  private timer: NodeJS.Timeout | undefined;
  /** The latest flush, and whether one is queued behind it that has not started (and so will see new decisions). */
  private tail: Promise<void> = Promise.resolve();
  private queued = false;
  dropped = 0;

  constructor(private readonly options: DecisionLogOptions) {
    this.ring = new DecisionRing(options.maxBuffered ?? 100_000);
    this.batchSize = options.batchSize ?? 256;
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.flushMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  get buffered(): number {
    return this.ring.size;
  }

  record(result: IntrospectionResult, aud: string, purpose: string): void {
    this.drop(this.ring.push({ jti: result.jti, decision: result.decision, reason: result.reason, aud, purpose, at_ms: Date.now() }));
    decisionsBuffered.set(this.ring.size);
    if (this.ring.size >= this.batchSize) void this.flush();
  }

  /**
   * Publishes everything buffered. Flushes run one at a time; a call while one runs
   * queues one more behind it (calls meanwhile share it), so every decision recorded
   * before a call is published (or still buffered, if the bus refused) when it resolves.
   */
  flush(): Promise<void> {
    if (this.queued) return this.tail;
    this.queued = true;
    this.tail = this.tail.then(() => {
      this.queued = false;
      return this.drain();
    });
    return this.tail;
  }

  private async drain(): Promise<void> {
    while (this.ring.size > 0) {
      const batch = this.ring.shift(this.batchSize);
      try {
        await publishEvent(this.options.events, introspectionDecisionsEvent(batch));
      } catch {
        // The bus is down: keep the batch (as far as it still fits) and try again on the next tick.
        this.drop(this.ring.unshift(batch));
        break;
      } finally {
        decisionsBuffered.set(this.ring.size);
      }
    }
  }

  private drop(n: number): void {
    if (n === 0) return;
    this.dropped += n;
    decisionsDropped.inc(n);
  }
}
