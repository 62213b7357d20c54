import type { EventBus } from '@ctp/bus';
import type { NoteSigner } from '@ctp/ledger-core';
import { REVOCATION_STREAM } from '@ctp/revocation';
import { ledgerAnchorInterval, watchConsumerLag } from '@ctp/telemetry';
import { anchorerFromSettings, type AnchorSettings } from './anchor';
import { LEDGER_STREAM } from './events';
import type { LedgerStore } from './store';
import { retentionPolicy, TierMaintenance, type TierConfig } from './tiers/schedule';
import { LedgerWriter } from './writer';

/** The CTP_LEDGER_* / CTP_TSA_* settings (libs/config ledgerEnv) the ledger's background work reads. */
export type LedgerSettings = AnchorSettings &
  TierConfig & {
    CTP_LEDGER_ORIGIN: string;
    CTP_LEDGER_BATCH_SIZE: number;
    CTP_LEDGER_BATCH_WAIT_MS: number;
    CTP_LEDGER_CHECKPOINT_INTERVAL_MS: number;
    CTP_LEDGER_REPLAY_FROM?: string | undefined;
    CTP_LEDGER_RETENTION_INTERVAL_MS: number;
  };

export interface LedgerLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface RunningLedger {
  writer: LedgerWriter;
  /** Stops anchoring, the tier maintenance and the writer (not the store or the bus). */
  stop(): Promise<void>;
}

/**
 * The ledger's moving parts as `ctp up` and apps/ledger-writer both run them: the
 * writer (durable consumers, checkpoints, integrity monitor), RFC 3161 anchoring when
 * CTP_TSA_URL is set, and the storage tiers (partitions ahead; the retention job when
 * CTP_LEDGER_RETENTION_INTERVAL_MS > 0).
 */
export async function startLedger(
  settings: LedgerSettings,
  deps: { store: LedgerStore; bus: EventBus; signers: NoteSigner[]; durable?: string; logger: LedgerLog },
): Promise<RunningLedger> {
  const { store, signers, logger } = deps;
  const writer = new LedgerWriter({
    store,
    bus: deps.bus,
    signers,
    origin: settings.CTP_LEDGER_ORIGIN,
    durable: deps.durable,
    batchSize: settings.CTP_LEDGER_BATCH_SIZE,
    maxWaitMs: settings.CTP_LEDGER_BATCH_WAIT_MS,
    checkpointIntervalMs: settings.CTP_LEDGER_CHECKPOINT_INTERVAL_MS,
    fromTimeMs: settings.CTP_LEDGER_REPLAY_FROM === undefined ? undefined : Date.parse(settings.CTP_LEDGER_REPLAY_FROM),
    onError: (error) => logger.error({ err: error }, 'ledger'),
  });
  await writer.start();
  // The writer's two durable consumers, on /metrics as ctp_bus_consumer_* (the lag alerts read them).
  const durable = deps.durable ?? 'ledger-writer';
  const unwatch = [LEDGER_STREAM, REVOCATION_STREAM].map((stream) => watchConsumerLag({ consumer: 'ledger-writer', stream }, () => deps.bus.consumerLag(stream, durable)));
  const anchorer = anchorerFromSettings(settings, store, writer, logger);
  await anchorer?.start();
  if (anchorer) ledgerAnchorInterval.set(anchorer.intervalMs / 1000);
  const tiers = new TierMaintenance({
    store,
    origin: settings.CTP_LEDGER_ORIGIN,
    verifiers: signers.map((s) => s.verifier),
    policy: retentionPolicy(settings),
    retentionIntervalMs: settings.CTP_LEDGER_RETENTION_INTERVAL_MS,
    log: (message, fields) => logger.info(fields, message),
    onError: (error) => logger.error({ err: error }, 'ledger tiers'),
  });
  tiers.start();
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
