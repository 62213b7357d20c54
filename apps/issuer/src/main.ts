import { createLogger, createServiceApp, jsonBody, listen, partnerAuth, shutdownOnSignals } from '@ctp/http';
import { IssuanceService, issuerRouter } from '@ctp/issuance';
import { KeyDirectory, loadOrCreateSecret } from '@ctp/keys';
import { loadPartnerAuth } from '@ctp/partners';
import { openCrl } from '@ctp/revocation';
import { metricsRouter } from '@ctp/telemetry';
import { loadIssuerConfig } from './config';

async function main() {
  const config = loadIssuerConfig();
  const logger = createLogger('issuer');
  const partners = loadPartnerAuth(config.CTP_PARTNERS_FILE, config.CTP_DEV_MODE);
  const keys = KeyDirectory.open(config.CTP_KEY_DIR);
  const owners = await openCrl(config.CTP_REDIS_URL, config.CTP_REDIS_PREFIX);
  const service = new IssuanceService({
    keys,
    owners,
    issuer: config.CTP_ISSUER,
    ttlSeconds: config.CTP_TOKEN_TTL_SECONDS,
    subjectSecret: loadOrCreateSecret(config.CTP_SUBJECT_SECRET_FILE),
  });
  const app = createServiceApp({
    logger,
    readiness: { keys: () => keys.ready },
    routers: [metricsRouter(), issuerRouter({ service, keys, auth: partnerAuth(partners), body: jsonBody() })],
  });
  const server = await listen(app, config.CTP_PORT, config.CTP_HOST);
  shutdownOnSignals([server], () => owners.close());
  logger.info({ port: config.CTP_PORT, devMode: config.CTP_DEV_MODE }, 'issuer listening');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
