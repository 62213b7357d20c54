import { connectBus } from '@ctp/bus';
import { jetStreamSettings, rateLimitsOf, tlsFiles } from '@ctp/config';
import { connectRedis, createLogger, createServiceApp, edgeControls, jsonBody, listen, loadTls, partnerAuth, shutdownOnSignals } from '@ctp/http';
import { startIntrospection } from '@ctp/introspection';
import { configuredStreams } from '@ctp/events';
import { JwksClient } from '@ctp/keys';
import { loadPartnerAuth } from '@ctp/partners';
import { revocationStore } from '@ctp/revocation';
import { metricsRouter, startTracing } from '@ctp/telemetry';
import { loadIntrospectorConfig } from './config';

async function main() {
  startTracing('introspector');
  const config = loadIntrospectorConfig();
  const logger = createLogger('introspector');
  const partners = loadPartnerAuth(config.CTP_PARTNERS_FILE, config.CTP_DEV_MODE);
  const tls = loadTls(tlsFiles(config));
  const jwks = new JwksClient(config.CTP_JWKS_URL, { cooldownMs: config.CTP_JWKS_COOLDOWN_MS });
  jwks.start();
  const jetStream = jetStreamSettings(config);
  const bus = await connectBus(config.CTP_NATS_URL, 'introspector', jetStream);
  const streams = configuredStreams(jetStream);
  await bus.ensureStreams([streams.revocation, streams.ledger]);
  const redis = await connectRedis(config.CTP_REDIS_URL);
  const edge = edgeControls({ redis, prefix: config.CTP_REDIS_PREFIX, limits: rateLimitsOf(config), logger });
  const introspection = await startIntrospection(
    {
      issuer: config.CTP_ISSUER,
      pullIntervalMs: config.CTP_REVOCATION_PULL_INTERVAL_MS,
      staleAfterMs: config.CTP_REVOCATION_STALE_AFTER_MS,
      cacheSize: config.CTP_VERIFIED_CACHE_SIZE,
    },
    {
      keys: jwks,
      bus,
      store: revocationStore(redis, config.CTP_REDIS_PREFIX),
      auth: partnerAuth(partners, edge.rateLimits),
      body: jsonBody(),
      logger,
      onKeyRevoked: () => void jwks.refresh().catch(() => undefined),
    },
  );
  const app = createServiceApp({
    logger,
    readiness: { jwks: () => jwks.ready, ...introspection.readiness, ...edge.readiness },
    routers: [metricsRouter(), ...introspection.routers],
  });
  const server = await listen(app, config.CTP_PORT, config.CTP_HOST, { tls });
  shutdownOnSignals([server], async () => {
    jwks.stop();
    await introspection.stop();
    await bus.close();
    redis?.disconnect();
  });
  logger.info({ port: config.CTP_PORT, tls: tls !== undefined, jwks: config.CTP_JWKS_URL }, 'introspector listening');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
