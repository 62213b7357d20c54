import { connectBus } from '@ctp/bus';
import { createLogger, createServiceApp, listen, loadTls, shutdownOnSignals } from '@ctp/http';
import { LEDGER_STREAM_SPEC, REVOCATION_STREAM_SPEC } from '@ctp/events';
import { ledgerRouter, LedgerStore, loadCheckpointSigners, startLedger } from '@ctp/ledger';
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
  const ledger = await startLedger(config, { store, bus, signers, durable: config.CTP_LEDGER_DURABLE, logger });
  const { writer } = ledger;
  const app = createServiceApp({
    logger,
    readiness: { bus: () => bus.status === 'connected' },
    routers: [metricsRouter(), ledgerRouter({ store, view: writer, verifiers: signers.map((s) => s.verifier), origin: config.CTP_LEDGER_ORIGIN })],
  });
  const server = await listen(app, config.CTP_PORT, config.CTP_HOST, { tls });
  shutdownOnSignals([server], async () => {
    await ledger.stop();
    await bus.close();
    await store.close();
  });
  logger.info({ port: config.CTP_PORT, tls: tls !== undefined, entries: writer.tree.size }, 'ledger-writer listening');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
