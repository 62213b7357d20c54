import { connectBus } from '@ctp/bus';
import { jetStreamSettings, ledgerOptions, tlsFiles } from '@ctp/config';
import { auditorAuth, createLogger, createServiceApp, listen, loadTls, partnerAuth, shutdownOnSignals } from '@ctp/http';
import { configuredStreams } from '@ctp/events';
import { hostname } from 'node:os';
import { LeaderLease, ledgerRouter, loadCheckpointSigners, openLedgerStores, receiptsRouter, startLedger } from '@ctp/ledger';
import { loadAuditors, loadPartnerAuth } from '@ctp/partners';
import { metricsRouter, startTracing } from '@ctp/telemetry';
import { loadLedgerWriterConfig } from './config';

async function main() {
  startTracing('ledger-writer');
  const config = loadLedgerWriterConfig();
  const logger = createLogger('ledger-writer');
  const tls = loadTls(tlsFiles(config));
  const jetStream = jetStreamSettings(config);
  const bus = await connectBus(config.CTP_NATS_URL, 'ledger-writer', jetStream);
  const streams = configuredStreams(jetStream);
  await bus.ensureStreams([streams.ledger, streams.revocation]);
  const { store, ownerStore, close: closeStores } = await openLedgerStores(config.CTP_DATABASE_URL, {
    schema: config.CTP_DATABASE_SCHEMA,
    ownerUrl: config.CTP_DATABASE_OWNER_URL,
    devMode: config.CTP_DEV_MODE,
    keepOwner: config.CTP_LEDGER_RETENTION_INTERVAL_MS > 0,
  });
  const signers = loadCheckpointSigners(config.CTP_LEDGER_KEY_DIR, config.CTP_LEDGER_ORIGIN, config.CTP_LEDGER_HYBRID);
  // Several replicas share the lease; the holder appends, the others serve reads and stand by.
  const lease = config.CTP_LEDGER_LEASE_MS > 0 ? new LeaderLease({ url: config.CTP_DATABASE_URL, schema: config.CTP_DATABASE_SCHEMA, holder: `${hostname()}/${process.pid}`, leaseMs: config.CTP_LEDGER_LEASE_MS }) : undefined;
  const ledger = await startLedger(ledgerOptions(config), { store, ownerStore, devMode: config.CTP_DEV_MODE, bus, signers, durable: config.CTP_LEDGER_DURABLE, logger, lease });
  const { writer } = ledger;
  const auditors = loadAuditors(config.CTP_PARTNERS_FILE);
  if (!config.CTP_DEV_MODE && auditors.size === 0) logger.warn({}, 'no auditors in CTP_PARTNERS_FILE: /ledger entries, proofs, anchors and exports answer 401');
  const receiptAuth = config.CTP_PARTNERS_FILE || config.CTP_DEV_MODE ? partnerAuth(loadPartnerAuth(config.CTP_PARTNERS_FILE, config.CTP_DEV_MODE)) : undefined;
  if (!receiptAuth) logger.warn({}, 'no CTP_PARTNERS_FILE: /receipts (the guards\' receipts) is not served');
  const app = createServiceApp({
    logger,
    readiness: { bus: () => bus.status === 'connected' },
    routers: [
      metricsRouter(),
      ledgerRouter({ store, view: writer, verifiers: signers.map((s) => s.verifier), origin: config.CTP_LEDGER_ORIGIN, auditorAuth: auditorAuth({ auditors, devMode: config.CTP_DEV_MODE }) }),
      // The partners' guards forward their receipts here (the writer owns the ledger they go to).
      ...(receiptAuth ? [receiptsRouter({ events: bus, auth: receiptAuth, store, view: writer })] : []),
    ],
  });
  const server = await listen(app, config.CTP_PORT, config.CTP_HOST, { tls });
  shutdownOnSignals([server], async () => {
    await ledger.stop();
    await lease?.stop();
    await bus.close();
    await closeStores();
  });
  logger.info({ port: config.CTP_PORT, tls: tls !== undefined, entries: writer.tree.size, leading: writer.leading }, 'ledger-writer listening');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
