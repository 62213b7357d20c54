import { connectBus } from '@ctp/bus';
import { rateLimitsOf, jetStreamSettings } from '@ctp/config';
import { connectRedis, createLogger, createServiceApp, edgeControls, jsonBody, listen, loadTls, partnerAuth, shutdownOnSignals } from '@ctp/http';
import { loadPartnerAuth } from '@ctp/partners';
import { configuredStreams } from '@ctp/events';
import { attachRevocationWebSocket, RevocationFeed, revocationRouter, RevocationService, revocationStore, TokenOwnerRegistry } from '@ctp/revocation';
import { metricsRouter, startTracing } from '@ctp/telemetry';
import { loadBroadcasterConfig } from './config';

async function main() {
  startTracing('revocation-broadcaster');
  const config = loadBroadcasterConfig();
  const logger = createLogger('revocation-broadcaster');
  const partners = loadPartnerAuth(config.CTP_PARTNERS_FILE, config.CTP_DEV_MODE);
  const tls = loadTls(config);
  const bus = await connectBus(config.CTP_NATS_URL, 'revocation-broadcaster', jetStreamSettings(config));
  const streams = configuredStreams(jetStreamSettings(config));
  await bus.ensureStreams([streams.revocation, streams.tokenOwner]);
  const redis = await connectRedis(config.CTP_REDIS_URL);
  const edge = edgeControls({ redis, prefix: config.CTP_REDIS_PREFIX, limits: rateLimitsOf(config), logger });
  const feed = new RevocationFeed(bus, { maxStreamsPerPartner: config.CTP_PUSH_MAX_STREAMS });
  await feed.start();
  const app = createServiceApp({
    logger,
    readiness: { bus: () => bus.status === 'connected', ...edge.readiness },
    routers: [
      metricsRouter(),
      revocationRouter({
        service: new RevocationService({ bus, store: revocationStore(redis, config.CTP_REDIS_PREFIX), owners: new TokenOwnerRegistry(bus) }),
        feed,
        auth: partnerAuth(partners, edge.rateLimits),
        body: jsonBody(),
        pollIntervalMs: config.CTP_POLL_INTERVAL_MS,
        heartbeatMs: config.CTP_PUSH_HEARTBEAT_MS,
      }),
    ],
  });
  const server = await listen(app, config.CTP_PORT, config.CTP_HOST, { tls });
  const wss = attachRevocationWebSocket(server, { feed, auth: partners, heartbeatMs: config.CTP_PUSH_HEARTBEAT_MS });
  shutdownOnSignals([server], async () => {
    for (const client of wss.clients) client.terminate();
    await feed.stop();
    await bus.close();
    redis?.disconnect();
  });
  logger.info({ port: config.CTP_PORT, tls: tls !== undefined }, 'revocation-broadcaster listening');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
