import { connectBus } from '@ctp/bus';
import { createLogger, createServiceApp, listen, loadTls, shutdownOnSignals } from '@ctp/http';
import { anchorerFromSettings, LEDGER_STREAM_SPEC, ledgerRouter, LedgerStore, LedgerWriter, loadCheckpointSigners, retentionPolicy, TierMaintenance } from '@ctp/ledger';
import { REVOCATION_STREAM_SPEC } from '@ctp/revocation';
import { metricsRouter, startTracing } from '@ctp/telemetry';
import { loadLedgerWriterConfig } from './config';

async function main() {
  startTracing('ledger-writer');
  const config = loadLedgerWriterConfig();
  const logger = createLogger('ledger-writer');
  const tls = loadTls(config);
  const bus = await connectBus(config.CTP_NATS_URL, 'ledger-writer');
  await bus.ensureStreams([LEDGER_STREAM_SPEC, REVOCATION_STREAM_SPEC]);
  const store = await LedgerStore.open(config.CTP_DATABASE_URL, { schema: config.CTP_DATABASE_SCHEMA });
  const signers = loadCheckpointSigners(config.CTP_LEDGER_KEY_DIR, config.CTP_LEDGER_ORIGIN, config.CTP_LEDGER_HYBRID);
  const writer = new LedgerWriter({
    store,
    bus,
    signers,
    origin: config.CTP_LEDGER_ORIGIN,
    durable: config.CTP_LEDGER_DURABLE,
    batchSize: config.CTP_LEDGER_BATCH_SIZE,
    maxWaitMs: config.CTP_LEDGER_BATCH_WAIT_MS,
    checkpointIntervalMs: config.CTP_LEDGER_CHECKPOINT_INTERVAL_MS,
    fromTimeMs: config.CTP_LEDGER_REPLAY_FROM === undefined ? undefined : Date.parse(config.CTP_LEDGER_REPLAY_FROM),
    onError: (error) => logger.error({ err: error }, 'ledger'),
  });
  await writer.start();
  const anchorer = anchorerFromSettings(config, store, writer, logger);
  await anchorer?.start();
  // Hot partitions ahead, always; the retention job too when CTP_LEDGER_RETENTION_INTERVAL_MS > 0 (docs/ledger-tiers.md).
  const tiers = new TierMaintenance({
    store,
    origin: config.CTP_LEDGER_ORIGIN,
    verifiers: signers.map((s) => s.verifier),
    policy: retentionPolicy(config),
    retentionIntervalMs: config.CTP_LEDGER_RETENTION_INTERVAL_MS,
    log: (message, fields) => logger.info(fields, message),
    onError: (error) => logger.error({ err: error }, 'ledger tiers'),
  });
  tiers.start();
  const app = createServiceApp({
    logger,
    readiness: { bus: () => bus.status === 'connected' },
    routers: [metricsRouter(), ledgerRouter({ store, writer, signers, origin: config.CTP_LEDGER_ORIGIN })],
  });
  const server = await listen(app, config.CTP_PORT, config.CTP_HOST, { tls });
  shutdownOnSignals([server], async () => {
    await anchorer?.stop();
    await tiers.stop();
    await writer.stop();
    await bus.close();
    await store.close();
  });
  logger.info({ port: config.CTP_PORT, tls: tls !== undefined, entries: writer.tree.size }, 'ledger-writer listening');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
