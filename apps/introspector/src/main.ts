import { connectBus } from '@ctp/bus';
import { rateLimitsOf, jetStreamSettings } from '@ctp/config';
import { connectRedis, createLogger, createServiceApp, edgeControls, jsonBody, listen, loadTls, partnerAuth, shutdownOnSignals } from '@ctp/http';
import { DecisionLog, Introspector, introspectorRouter } from '@ctp/introspection';
import { configuredStreams } from '@ctp/events';
import { JwksClient, KeyRevocationWatch } from '@ctp/keys';
import { loadPartnerAuth } from '@ctp/partners';
import { revocationStore, RevocationSync } from '@ctp/revocation';
import { metricsRouter, startTracing } from '@ctp/telemetry';
import { loadIntrospectorConfig } from './config';

async function main() {
  startTracing('introspector');
  const config = loadIntrospectorConfig();
  const logger = createLogger('introspector');
  const partners = loadPartnerAuth(config.CTP_PARTNERS_FILE, config.CTP_DEV_MODE);
  const tls = loadTls(config);
  const jwks = new JwksClient(config.CTP_JWKS_URL, { cooldownMs: config.CTP_JWKS_COOLDOWN_MS });
  jwks.start();
  const bus = await connectBus(config.CTP_NATS_URL, 'introspector', jetStreamSettings(config));
  const streams = configuredStreams(jetStreamSettings(config));
  await bus.ensureStreams([streams.revocation, streams.ledger]);
  const decisions = new DecisionLog({ events: bus });
  decisions.start();
  const redis = await connectRedis(config.CTP_REDIS_URL);
  const edge = edgeControls({ redis, prefix: config.CTP_REDIS_PREFIX, limits: rateLimitsOf(config), logger });
  const revocations = new RevocationSync({
    bus,
    store: revocationStore(redis, config.CTP_REDIS_PREFIX),
    pullIntervalMs: config.CTP_REVOCATION_PULL_INTERVAL_MS,
    staleAfterMs: config.CTP_REVOCATION_STALE_AFTER_MS,
    onError: (error) => logger.warn({ err: error }, 'revocation list read failed'),
  });
  await revocations.start();
  const revokedKeys = new KeyRevocationWatch({
    bus,
    onRevoked: (kid) => {
      logger.warn({ kid }, 'signing key revoked: denying its tokens');
      void jwks.refresh().catch(() => undefined);
    },
  });
  await revokedKeys.start();
  const introspector = new Introspector({ keys: jwks, issuer: config.CTP_ISSUER, revocations, revokedKeys, cacheSize: config.CTP_VERIFIED_CACHE_SIZE });
  const app = createServiceApp({
    logger,
    readiness: { jwks: () => jwks.ready, revocations: () => revocations.ready, ...edge.readiness },
    routers: [metricsRouter(), introspectorRouter({ introspector, decisions, auth: partnerAuth(partners, edge.rateLimits), body: jsonBody() })],
  });
  const server = await listen(app, config.CTP_PORT, config.CTP_HOST, { tls });
  shutdownOnSignals([server], async () => {
    jwks.stop();
    await revocations.stop();
    await revokedKeys.stop();
    await decisions.stop();
    await bus.close();
    redis?.disconnect();
  });
  logger.info({ port: config.CTP_PORT, tls: tls !== undefined, jwks: config.CTP_JWKS_URL }, 'introspector listening');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
