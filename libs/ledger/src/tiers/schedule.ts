import type { NoteVerifier } from '@ctp/ledger-core';
import type { LedgerStore } from '../store';
import { ensurePartitions } from './partitions';
import { runRetention, type RetentionPolicy, type RetentionReport } from './retention';

export interface TierMaintenanceOptions {
  /** Where hot partitions are created ahead (ledger_ensure_partition: the writer's role may). */
  store: LedgerStore;
  /** The table owner's connection, which the retention job needs to drop sealed partitions (default: store). */
  retentionStore?: LedgerStore;
  origin: string;
  verifiers: NoteVerifier[];
  policy: RetentionPolicy;
  /** Retention job period; 0 = never (partitions ahead are still kept). */
  retentionIntervalMs: number;
  /** Period of creating hot partitions ahead (default hourly). */
  partitionIntervalMs?: number;
  log: (message: string, fields: Record<string, unknown>) => void;
  onError: (error: unknown) => void;
}

/**
 * Background upkeep in a ledger writer: hot partitions for the next months always,
 * and the retention job on a period when enabled. Runs never overlap; the job being
 * idempotent, a run cut short by a stop is finished by the next one.
 */
export class TierMaintenance {
  private timers: NodeJS.Timeout[] = [];
  /** The runs, one after another. */
  private running: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: TierMaintenanceOptions) {}

  start(): void {
    this.every(this.o.partitionIntervalMs ?? 3_600_000, () => ensurePartitions(this.o.store.sql, new Date(), 3));
    if (this.o.retentionIntervalMs > 0) this.every(this.o.retentionIntervalMs, () => this.runRetention());
  }

  runRetention(now = new Date()): Promise<RetentionReport> {
    return runRetention({ store: this.o.retentionStore ?? this.o.store, origin: this.o.origin, verifiers: this.o.verifiers, ...this.o.policy, now, log: this.o.log });
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.running.catch(() => undefined);
  }

  /**
   * Runs `task` every `ms`, queued behind whatever runs, and skipped only while its own
   * previous run waits or runs. (One flag for both tasks let the first timer's run take
   * every turn of the second when both fired together, as with equal periods: the
   * retention job then never ran.)
   */
  private every(ms: number, task: () => Promise<unknown>): void {
    let pending = false;
    const timer = setInterval(() => {
      if (pending) return;
      pending = true;
      this.running = this.running
        .catch(() => undefined)
        .then(task)
        .catch((error: unknown) => this.o.onError(error))
        .finally(() => (pending = false));
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }
}
