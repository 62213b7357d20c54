import { connectBus } from '@ctp/bus';
import { createLogger, createServiceApp, jsonBody, listen, partnerAuth, shutdownOnSignals } from '@ctp/http';
import { IssuanceService, issuerRouter, keyAdminRouter, startKeyAgeCheck } from '@ctp/issuance';
import { KeyChanges, KeyDirectory, loadOrCreateSecret, OperatorRegistry } from '@ctp/keys';
import { loadPartnerAuth } from '@ctp/partners';
import { openCrl } from '@ctp/revocation';
import { LEDGER_STREAM_SPEC } from '@ctp/ledger';
import { metricsRouter, startTracing } from '@ctp/telemetry';
import { loadIssuerConfig } from './config';

async function main() {
  startTracing('issuer');
  const config = loadIssuerConfig();
  const logger = createLogger('issuer');
  const partners = loadPartnerAuth(config.CTP_PARTNERS_FILE, config.CTP_DEV_MODE);
  const keys = KeyDirectory.open(config.CTP_KEY_DIR, undefined, {
    prePublishSeconds: config.CTP_KEY_PREPUBLISH_SECONDS,
    rotationPeriodSeconds: config.CTP_KEY_ROTATION_DAYS * 86_400,
  });
  const owners = await openCrl(config.CTP_REDIS_URL, config.CTP_REDIS_PREFIX);
  const bus = await connectBus(config.CTP_NATS_URL, 'issuer');
  await bus.ensureStreams([LEDGER_STREAM_SPEC]);
  const changes = config.CTP_OPERATORS_FILE ? new KeyChanges({ keys, operators: OperatorRegistry.load(config.CTP_OPERATORS_FILE), bus }) : undefined;
  const stopKeyAgeCheck = startKeyAgeCheck(keys, {
    onOverdue: (age) => logger.warn({ ageSeconds: age }, 'the active signing key is older than the rotation policy'),
    onError: (error) => logger.error({ err: error }, 'signing key age check failed'),
  });
  const service = new IssuanceService({
    keys,
    owners,
    ledger: bus,
    issuer: config.CTP_ISSUER,
    ttlSeconds: config.CTP_TOKEN_TTL_SECONDS,
    subjectSecret: loadOrCreateSecret(config.CTP_SUBJECT_SECRET_FILE),
  });
  const app = createServiceApp({
    logger,
    readiness: { keys: () => keys.ready, bus: () => bus.status === 'connected' },
    routers: [
      metricsRouter(),
      issuerRouter({ service, keys, auth: partnerAuth(partners), body: jsonBody() }),
      keyAdminRouter({ keys, changes, body: jsonBody() }),
    ],
  });
  const server = await listen(app, config.CTP_PORT, config.CTP_HOST);
  shutdownOnSignals([server], async () => {
    stopKeyAgeCheck();
    await bus.close();
    await owners.close();
  });
  logger.info({ port: config.CTP_PORT, devMode: config.CTP_DEV_MODE }, 'issuer listening');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
