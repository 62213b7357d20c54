import { connectBus } from '@ctp/bus';
import { jetStreamSettings, rateLimitsOf, tlsFiles } from '@ctp/config';
import { connectRedis, createLogger, createServiceApp, edgeControls, jsonBody, listen, loadTls, partnerAuth, shutdownOnSignals } from '@ctp/http';
import { loadPartnerAuth } from '@ctp/partners';
import { configuredStreams } from '@ctp/events';
import { revocationStore, startRevocation, TokenOwnerRegistry } from '@ctp/revocation';
import { metricsRouter, startTracing } from '@ctp/telemetry';
import { loadBroadcasterConfig } from './config';

async function main() {
  startTracing('revocation-broadcaster');
  const config = loadBroadcasterConfig();
  const logger = createLogger('revocation-broadcaster');
  const partners = loadPartnerAuth(config.CTP_PARTNERS_FILE, config.CTP_DEV_MODE);
  const tls = loadTls(tlsFiles(config));
  const jetStream = jetStreamSettings(config);
  const bus = await connectBus(config.CTP_NATS_URL, 'revocation-broadcaster', jetStream);
  const streams = configuredStreams(jetStream);
  await bus.ensureStreams([streams.revocation, streams.tokenOwner]);
  const redis = await connectRedis(config.CTP_REDIS_URL);
  const edge = edgeControls({ redis, prefix: config.CTP_REDIS_PREFIX, limits: rateLimitsOf(config), logger });
  const revocation = await startRevocation(
    { pollIntervalMs: config.CTP_POLL_INTERVAL_MS, heartbeatMs: config.CTP_PUSH_HEARTBEAT_MS, maxStreamsPerPartner: config.CTP_PUSH_MAX_STREAMS },
    { bus, store: revocationStore(redis, config.CTP_REDIS_PREFIX), owners: new TokenOwnerRegistry(bus), partners, auth: partnerAuth(partners, edge.rateLimits), body: jsonBody() },
  );
  const app = createServiceApp({
    logger,
    readiness: { bus: () => bus.status === 'connected', ...edge.readiness },
    routers: [metricsRouter(), ...revocation.routers],
  });
  const server = await listen(app, config.CTP_PORT, config.CTP_HOST, { tls });
  revocation.attach(server);
  shutdownOnSignals([server], async () => {
    revocation.disconnect();
    await revocation.stop();
    await bus.close();
    redis?.disconnect();
  });
  logger.info({ port: config.CTP_PORT, tls: tls !== undefined }, 'revocation-broadcaster listening');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
