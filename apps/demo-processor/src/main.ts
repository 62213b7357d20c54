import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createLocalValidator } from '@ctp/sdk';
import { KeyRing, MemoryNonceStore, RedisNonceStore } from '@ctp/guard';
import { connectRedis, createLogger, listen, loadTls, shutdownOnSignals, baseUrl } from '@ctp/http';
import { loadSigningKeys } from '@ctp/partners';
import { createProcessorApp } from './app';
import { processorParts } from './parts';

/**
 * `npm run demo:processor`: the demo processor svc://cx-ai/v1 against a running CTP (CTP_URL, default
 * http://127.0.0.1:8000, e.g. `npm start`). PROCESSOR_PARTNERS_FILE lists the partners' signing keys
 * (`ctp partners new-signing-key`); CTP_TLS_CERT_FILE/CTP_TLS_KEY_FILE make it terminate TLS (channel
 * binding); REDIS_URL keeps used nonces in Redis (else in this process); PROCESSOR_NONCE_SECRET (base64url, at least
 * 32 bytes, the same on every replica) authenticates the challenge nonces (default: random per process). CTP_API_KEY: the
 * processor's partner key.
 * The guard runs with the Cedar policy shields of PROCESSOR_POLICY_DIR (default policy/, reloaded on change),
 * a hysteresis breaker around CTP, and receipts in PROCESSOR_RECEIPTS_DB (SQLite, default
 * var/demo-processor/receipts.db) forwarded to CTP's ledger.
 */
async function main() {
  const logger = createLogger('demo-processor');
  const ctpUrl = process.env.CTP_URL ?? 'http://127.0.0.1:8000';
  const partnersFile = process.env.PROCESSOR_PARTNERS_FILE;
  if (!partnersFile) throw new Error('PROCESSOR_PARTNERS_FILE is required: the partners file with the signing_keys of the partners that call this processor');
  const apiKey = process.env.CTP_API_KEY;
  const validator = createLocalValidator({ baseUrl: ctpUrl, apiKey, issuer: process.env.CTP_ISSUER ?? ctpUrl, onError: (e) => logger.warn({ err: e }, 'revocation channel') });
  await validator.ready(15_000);
  const redis = await connectRedis(process.env.REDIS_URL);
  const receiptsPath = resolve(process.env.PROCESSOR_RECEIPTS_DB ?? 'var/demo-processor/receipts.db');
  mkdirSync(dirname(receiptsPath), { recursive: true });
  const parts = processorParts({ ctpUrl, apiKey, policyDir: resolve(process.env.PROCESSOR_POLICY_DIR ?? 'policy'), receiptsPath, logger });
  parts.forwarder.start();
  const app = createProcessorApp({
    keys: new KeyRing(loadSigningKeys(partnersFile)),
    nonces: redis ? new RedisNonceStore(redis) : new MemoryNonceStore(),
    nonceSecret: process.env.PROCESSOR_NONCE_SECRET ? Buffer.from(process.env.PROCESSOR_NONCE_SECRET, 'base64url') : undefined,
    validator,
    ...parts.guard,
    logger,
  });
  const server = await listen(app, Number(process.env.PROCESSOR_PORT ?? 8443), '127.0.0.1', { tls: loadTls(process.env) });
  logger.info(`demo processor svc://cx-ai/v1 on ${baseUrl(server)} (CTP at ${ctpUrl})`);
  shutdownOnSignals([server], async () => {
    await validator.close();
    await parts.close();
    redis?.disconnect();
  });
}

main().catch((error: unknown) => {
  console.error((error as Error).message);
  process.exit(1);
});
