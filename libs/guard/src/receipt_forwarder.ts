import type { GuardReceipt } from '@ctp/ctp-core';
import type { ReceiptAck, SqliteReceiptStore } from './receipts';

/** Sends one batch to CTP (POST /receipts, e.g. CtpClient#forwardReceipts) and resolves with its acknowledgements. */
export type ReceiptTransport = (receipts: GuardReceipt[]) => Promise<ReceiptAck[]>;

export interface ReceiptForwarderOptions {
  store: Pick<SqliteReceiptStore, 'pending' | 'acknowledge'>;
  send: ReceiptTransport;
  /** Receipts per POST /receipts (CTP takes at most 100). Default 100. */
  batchSize?: number;
  /** How often the store is looked at for pending receipts, ms. Default 1000. */
  intervalMs?: number;
  /** Backoff after a failed batch doubles from intervalMs up to this, ms. Default 30000. */
  maxBackoffMs?: number;
  onError?: (error: Error) => void;
}

/**
 * Moves the store's pending receipts to CTP's ledger, oldest first, in batches. A receipt is
 * marked forwarded only once CTP acknowledged its id; until then it is sent again (after a
 * failure, or after a restart: the pending set lives in the SQLite file). CTP stores a receipt
 * id once whatever the number of sends, so each receipt reaches the ledger exactly once.
 */
export class ReceiptForwarder {
  private readonly batchSize: number;
  private readonly intervalMs: number;
  private readonly maxBackoffMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private inFlight: Promise<number> | undefined;
  private failures = 0;
  private forwardedCount = 0;

  constructor(private readonly opts: ReceiptForwarderOptions) {
    this.batchSize = Math.min(opts.batchSize ?? 100, 100);
    this.intervalMs = opts.intervalMs ?? 1000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 30_000;
  }

  /** Receipts acknowledged by CTP since this forwarder was created. */
  get forwarded(): number {
    return this.forwardedCount;
  }

  /** Consecutive failed batches (0 while CTP acknowledges). */
  get consecutiveFailures(): number {
    return this.failures;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops the loop after the batch in flight, if any. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.inFlight?.catch(() => undefined);
  }

  /**
   * Forwards batches until nothing is pending. Resolves with the number acknowledged; rejects
   * on the first failed batch (what was acknowledged before it stays acknowledged).
   */
  flush(): Promise<number> {
    // One pass at a time: a concurrent caller waits for the running pass, then starts its own.
    const pass = (this.inFlight ?? Promise.resolve(0)).catch(() => 0).then(() => this.pass());
    this.inFlight = pass;
    return pass;
  }

  private async pass(): Promise<number> {
    let total = 0;
    for (;;) {
      const batch = this.opts.store.pending(this.batchSize);
      if (batch.length === 0) return total;
      const sent = new Set(batch.map((r) => r.receipt.id));
      const acks = await this.opts.send(batch.map((r) => r.receipt));
      const valid = acks.filter((a) => sent.has(a.id) && typeof a.event_id === 'string');
      this.opts.store.acknowledge(valid);
      total += valid.length;
      this.forwardedCount += valid.length;
      if (valid.length < batch.length) throw new Error(`CTP acknowledged ${valid.length} of ${batch.length} receipts`);
    }
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.flush().then(
        () => {
          this.failures = 0;
          this.schedule(this.intervalMs);
        },
        (error: unknown) => {
          this.failures++;
          this.opts.onError?.(error as Error);
          this.schedule(Math.min(this.intervalMs * 2 ** this.failures, this.maxBackoffMs));
        },
      );
    }, delayMs);
    this.timer.unref();
  }
}
