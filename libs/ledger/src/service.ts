import type { EventBus } from '@ctp/bus';
import type { NoteSigner } from '@ctp/ledger-core';
import { LEDGER_STREAM, REVOCATION_STREAM } from '@ctp/events';
import { ledgerAnchorInterval, watchConsumerLag } from '@ctp/telemetry';
import { anchorerFromOptions, type AnchoringOptions } from './anchor';
import type { LeaderLease } from './leader';
import { assertWriterRole } from './roles';
import { LedgerStore } from './store';
import type { RetentionPolicy } from './tiers/retention';
import { TierMaintenance } from './tiers/schedule';
import { LedgerWriter } from './writer';

/** The ledger's settings (CTP_LEDGER_* / CTP_TSA_*: libs/config ledgerOptions). */
export interface LedgerOptions {
  /** Checkpoint origin line, naming this log. */
  origin: string;
  /** Entries per append transaction, and the longest a batch waits to fill. */
  batchSize: number;
  batchWaitMs: number;
  checkpointIntervalMs: number;
  /** RFC 3339: a new durable consumer starts at events stored from this time; unset: every retained event. */
  replayFrom?: string;
  /** Period of the retention job; 0 turns it off. */
  retentionIntervalMs: number;
  anchoring: AnchoringOptions;
  tiers: RetentionPolicy;
}

export interface LedgerLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface LedgerStores {
  /** The writer's connection (INSERT and SELECT only, outside dev mode). */
  store: LedgerStore;
  /** The table owner's, kept open only when the retention job runs in this process. */
  ownerStore?: LedgerStore;
  close(): Promise<void>;
}

/**
 * Opens the ledger as the apps run it: migrations through the owner's connection
 * (`ownerUrl`), then the writer's connection, which does not migrate. Without an
 * owner URL the writer's connection migrates only in dev mode; otherwise the schema
 * must be migrated already.
 */
export async function openLedgerStores(url: string, options: { schema: string; ownerUrl?: string; devMode: boolean; keepOwner: boolean; max?: number }): Promise<LedgerStores> {
  let ownerStore = options.ownerUrl ? await LedgerStore.open(options.ownerUrl, { schema: options.schema, max: 1 }) : undefined;
  if (ownerStore && !options.keepOwner) {
    await ownerStore.close();
    ownerStore = undefined;
  }
  let store: LedgerStore;
  try {
    store = await LedgerStore.open(url, { schema: options.schema, max: options.max, migrate: !options.ownerUrl && options.devMode });
  } catch (error) {
    await ownerStore?.close();
    throw error;
  }
  return {
    store,
    ownerStore,
    close: async () => {
      await store.close();
      await ownerStore?.close();
    },
  };
}

export interface RunningLedger {
  writer: LedgerWriter;
  /** Stops anchoring, the tier maintenance and the writer (not the store or the bus). */
  stop(): Promise<void>;
}

/**
 * The ledger's moving parts as `ctp up` and apps/ledger-writer both run them, after
 * checking the writer's database role (assertWriterRole): the
 * writer (durable consumers, checkpoints, integrity monitor), RFC 3161 anchoring when
 * CTP_TSA_URL is set, and the storage tiers (partitions ahead; the retention job when
 * CTP_LEDGER_RETENTION_INTERVAL_MS > 0).
 */
export async function startLedger(
  options: LedgerOptions,
  deps: {
    store: LedgerStore;
    ownerStore?: LedgerStore;
    devMode: boolean;
    bus: EventBus;
    signers: NoteSigner[];
    durable?: string;
    logger: LedgerLog;
    /** HA: only the lease holder appends, signs, anchors and runs the tiers; the others stand by (LedgerWriter). */
    lease?: LeaderLease;
    onLeadershipLost?: (reason: string) => void;
  },
): Promise<RunningLedger> {
  const { store, signers, logger } = deps;
  await assertWriterRole(store.sql, { devMode: deps.devMode });
  if (options.retentionIntervalMs > 0 && !deps.ownerStore && !deps.devMode) {
    throw new Error('CTP_LEDGER_RETENTION_INTERVAL_MS > 0: the retention job drops sealed partitions, which only the table owner may; set CTP_DATABASE_OWNER_URL (or run `ctp ledger retention` as the owner)');
  }
  const writer = new LedgerWriter({
    store,
    bus: deps.bus,
    signers,
    origin: options.origin,
    durable: deps.durable,
    batchSize: options.batchSize,
    maxWaitMs: options.batchWaitMs,
    checkpointIntervalMs: options.checkpointIntervalMs,
    fromTimeMs: options.replayFrom === undefined ? undefined : Date.parse(options.replayFrom),
    lease: deps.lease,
    onLeader: (epoch) => {
      logger.info({ epoch }, 'ledger-writer leads');
      leaderWork().catch((error: unknown) => logger.error({ err: error }, 'ledger'));
    },
    onLeadershipLost: (reason) => {
      logger.warn({ reason }, 'ledger-writer stands by');
      void Promise.all([anchorer?.stop(), tiers.stop()]);
      deps.onLeadershipLost?.(reason);
    },
    onError: (error) => logger.error({ err: error }, 'ledger'),
  });
  // The writer's two durable consumers, on /metrics as ctp_bus_consumer_* (the lag alerts read them).
  const durable = deps.durable ?? 'ledger-writer';
  const unwatch = [LEDGER_STREAM, REVOCATION_STREAM].map((stream) => watchConsumerLag({ consumer: 'ledger-writer', stream }, () => deps.bus.consumerLag(stream, durable)));
  const anchorer = anchorerFromOptions(options.anchoring, store, writer, logger);
  const tiers = new TierMaintenance({
    store,
    retentionStore: deps.ownerStore,
    origin: options.origin,
    verifiers: signers.flatMap((s) => s.verifiers),
    policy: options.tiers,
    retentionIntervalMs: options.retentionIntervalMs,
    log: (message, fields) => logger.info(fields, message),
    onError: (error) => logger.error({ err: error }, 'ledger tiers'),
  });
  // Anchoring and the tiers are the leader's work too: a standby starts them when it takes over.
  const leaderWork = async () => {
    if (!writer.leading) return;
    await anchorer?.start();
    if (anchorer) ledgerAnchorInterval.set(anchorer.intervalMs / 1000);
    tiers.start();
  };
  // Started once everything its leadership hooks use exists (a standby may lead at once).
  await writer.start();
  if (!deps.lease) await leaderWork();
  return {
    writer,
    stop: async () => {
      for (const stop of unwatch) stop();
      await anchorer?.stop();
      await tiers.stop();
      await writer.stop();
    },
  };
}
