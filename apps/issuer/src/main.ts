import { connectBus } from '@ctp/bus';
import { jetStreamSettings, rateLimitsOf, tlsFiles, tokenKeyOptions } from '@ctp/config';
import { connectRedis, createLogger, createServiceApp, edgeControls, jsonBody, listen, loadTls, partnerAuth, shutdownOnSignals } from '@ctp/http';
import { startIssuance } from '@ctp/issuance';
import { loadPartnerAuth } from '@ctp/partners';
import { TokenOwnerRegistry } from '@ctp/revocation';
import { configuredStreams } from '@ctp/events';
import { metricsRouter, startTracing } from '@ctp/telemetry';
import { loadIssuerConfig } from './config';

async function main() {
  startTracing('issuer');
  const config = loadIssuerConfig();
  const logger = createLogger('issuer');
  const partners = loadPartnerAuth(config.CTP_PARTNERS_FILE, config.CTP_DEV_MODE);
  const tls = loadTls(tlsFiles(config));
  const redis = await connectRedis(config.CTP_REDIS_URL);
  const edge = edgeControls({ redis, prefix: config.CTP_REDIS_PREFIX, limits: rateLimitsOf(config), logger });
  const jetStream = jetStreamSettings(config);
  const bus = await connectBus(config.CTP_NATS_URL, 'issuer', jetStream);
  const streams = configuredStreams(jetStream);
  await bus.ensureStreams([streams.ledger, streams.tokenOwner]);
  const issuance = await startIssuance(
    {
      issuer: config.CTP_ISSUER,
      ttlSeconds: config.CTP_TOKEN_TTL_SECONDS,
      subjectSecretFile: config.CTP_SUBJECT_SECRET_FILE,
      operatorsFile: config.CTP_OPERATORS_FILE,
      keys: tokenKeyOptions(config, config.CTP_KEY_DIR),
    },
    { events: bus, owners: new TokenOwnerRegistry(bus), redis, redisPrefix: config.CTP_REDIS_PREFIX, auth: partnerAuth(partners, edge.rateLimits), body: jsonBody(), logger },
  );
  const app = createServiceApp({
    logger,
    readiness: { ...issuance.readiness, bus: () => bus.status === 'connected', ...edge.readiness },
    routers: [metricsRouter(), ...issuance.routers],
  });
  const server = await listen(app, config.CTP_PORT, config.CTP_HOST, { tls });
  shutdownOnSignals([server], async () => {
    await bus.close();
    redis?.disconnect();
    await issuance.stop();
  });
  logger.info({ port: config.CTP_PORT, tls: tls !== undefined, devMode: config.CTP_DEV_MODE, signingKeys: issuance.signingSource }, 'issuer listening');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
