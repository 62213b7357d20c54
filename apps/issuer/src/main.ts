import { connectBus } from '@ctp/bus';
import { rateLimitsOf, jetStreamSettings } from '@ctp/config';
import { connectRedis, createLogger, createServiceApp, edgeControls, jsonBody, listen, loadTls, partnerAuth, shutdownOnSignals } from '@ctp/http';
import { funnelRouter, idempotencyStore, IssuanceService, issuerRouter, keyAdministration } from '@ctp/issuance';
import { loadOrCreateSecret, openTokenKeys, tokenKeySettings } from '@ctp/keys';
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
  const tls = loadTls(config);
  const signing = await openTokenKeys(tokenKeySettings(config, config.CTP_KEY_DIR));
  // Key states, dual control and the age check govern the local key directory; with Cloud KMS,
  // versions are published and switched by configuration (docs/operations.md, "Rotate keys").
  const { keys, directory } = signing;
  const redis = await connectRedis(config.CTP_REDIS_URL);
  const edge = edgeControls({ redis, prefix: config.CTP_REDIS_PREFIX, limits: rateLimitsOf(config), logger });
  const bus = await connectBus(config.CTP_NATS_URL, 'issuer', jetStreamSettings(config));
  const streams = configuredStreams(jetStreamSettings(config));
  await bus.ensureStreams([streams.ledger, streams.tokenOwner]);
  const keyAdmin = keyAdministration(directory, { operatorsFile: config.CTP_OPERATORS_FILE, events: bus, body: jsonBody(), logger });
  const service = new IssuanceService({
    keys,
    owners: new TokenOwnerRegistry(bus),
    events: bus,
    issuer: config.CTP_ISSUER,
    ttlSeconds: config.CTP_TOKEN_TTL_SECONDS,
    subjectSecret: loadOrCreateSecret(config.CTP_SUBJECT_SECRET_FILE),
  });
  const auth = partnerAuth(partners, edge.rateLimits);
  const app = createServiceApp({
    logger,
    readiness: { keys: () => keys.ready, bus: () => bus.status === 'connected', ...edge.readiness },
    routers: [
      metricsRouter(),
      issuerRouter({ service, keys, auth, body: jsonBody(), idempotency: idempotencyStore(redis, config.CTP_REDIS_PREFIX) }),
      funnelRouter({ events: bus, auth, body: jsonBody() }),
      ...keyAdmin.routers,
    ],
  });
  const server = await listen(app, config.CTP_PORT, config.CTP_HOST, { tls });
  shutdownOnSignals([server], async () => {
    keyAdmin.stop();
    await bus.close();
    redis?.disconnect();
    await signing.close();
  });
  logger.info({ port: config.CTP_PORT, tls: tls !== undefined, devMode: config.CTP_DEV_MODE, signingKeys: signing.source }, 'issuer listening');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
