import { join } from 'node:path';
import { connectBus, type EventBus } from '@ctp/bus';
import { ledgerOptions, jetStreamSettings, rateLimitsOf, tlsFiles, tokenKeyOptions } from '@ctp/config';
import { auditorAuth, baseUrl, close, connectRedis, createLogger, createServiceApp, edgeControls, jsonBody, listen, loadTls, partnerAuth, type Logger, type Server } from '@ctp/http';
import { startIntrospection } from '@ctp/introspection';
import { startIssuance } from '@ctp/issuance';
import { configuredStreams } from '@ctp/events';
import { ledgerRouter, loadCheckpointSigners, openLedgerStores, receiptsRouter, startEmbeddedPostgres, startLedger } from '@ctp/ledger';
import { loadAuditors, loadPartnerAuth } from '@ctp/partners';
import { revocationStore, startRevocation, TokenOwnerRegistry, type RevocationStore } from '@ctp/revocation';
import { metricsRouter } from '@ctp/telemetry';
import type { UpConfig } from './config';

export interface RunningCtp {
  server: Server;
  url: string;
  bus: EventBus;
  /** The revocation list (Redis with CTP_REDIS_URL, else in process). */
  revocationList: RevocationStore;
  close(): Promise<void>;
}

/**
 * Every service in one process on one port, started by the same functions as the
 * standalone apps (startIssuance, startIntrospection, startRevocation, startLedger).
 * The bus and the revocation list are in-process unless CTP_NATS_URL / CTP_REDIS_URL
 * name real servers.
 */
export async function startCtp(config: UpConfig, logger: Logger = createLogger('ctp')): Promise<RunningCtp> {
  const partners = loadPartnerAuth(config.CTP_PARTNERS_FILE, config.CTP_DEV_MODE);
  const tls = loadTls(tlsFiles(config));
  const jetStream = jetStreamSettings(config);
  const bus = await connectBus(config.CTP_NATS_URL, 'ctp-up', jetStream);
  const streams = configuredStreams(jetStream);
  await bus.ensureStreams([streams.revocation, streams.ledger, streams.tokenOwner]);
  const redis = await connectRedis(config.CTP_REDIS_URL);
  const edge = edgeControls({ redis, prefix: config.CTP_REDIS_PREFIX, limits: rateLimitsOf(config), logger });
  const revocationList = revocationStore(redis, config.CTP_REDIS_PREFIX);
  const owners = new TokenOwnerRegistry(bus);
  const auth = partnerAuth(partners, edge.rateLimits);
  const body = jsonBody({ acceptShellMangledJson: config.CTP_DEV_MODE });
  const issuance = await startIssuance(
    {
      issuer: config.CTP_ISSUER,
      ttlSeconds: config.CTP_TOKEN_TTL_SECONDS,
      subjectSecretFile: join(config.CTP_DATA_DIR, 'subject.secret'),
      operatorsFile: config.CTP_OPERATORS_FILE,
      keys: tokenKeyOptions(config, join(config.CTP_DATA_DIR, 'keys')),
    },
    { events: bus, owners, redis, redisPrefix: config.CTP_REDIS_PREFIX, auth, body, logger },
  );
  const introspection = await startIntrospection(
    { issuer: config.CTP_ISSUER, pullIntervalMs: config.CTP_REVOCATION_PULL_INTERVAL_MS, staleAfterMs: config.CTP_REVOCATION_STALE_AFTER_MS },
    { keys: issuance.keys, bus, store: revocationList, auth, body, logger },
  );
  const revocation = await startRevocation(
    { pollIntervalMs: config.CTP_POLL_INTERVAL_MS, heartbeatMs: config.CTP_PUSH_HEARTBEAT_MS, maxStreamsPerPartner: config.CTP_PUSH_MAX_STREAMS },
    { bus, store: revocationList, owners, partners, auth, body },
  );
  const embeddedDb = config.CTP_DATABASE_URL ? undefined : await startEmbeddedPostgres(join(config.CTP_DATA_DIR, 'ledger-db'));
  // The embedded database is dev mode for the writer's role check: it lives and dies with this process.
  const devDatabase = config.CTP_DEV_MODE || embeddedDb !== undefined;
  const stores = await openLedgerStores(config.CTP_DATABASE_URL ?? embeddedDb!.url, {
    schema: config.CTP_DATABASE_SCHEMA,
    ownerUrl: embeddedDb ? undefined : config.CTP_DATABASE_OWNER_URL,
    devMode: devDatabase,
    keepOwner: config.CTP_LEDGER_RETENTION_INTERVAL_MS > 0,
    max: embeddedDb ? 1 : 4,
  });
  const { store } = stores;
  const signers = loadCheckpointSigners(join(config.CTP_DATA_DIR, 'ledger-keys'), config.CTP_LEDGER_ORIGIN, config.CTP_LEDGER_HYBRID);
  const ledger = await startLedger(ledgerOptions(config), { store, ownerStore: stores.ownerStore, devMode: devDatabase, bus, signers, durable: config.CTP_LEDGER_DURABLE, logger });
  const app = createServiceApp({
    logger,
    readiness: { ...issuance.readiness, ...introspection.readiness, ...edge.readiness },
    // Hot routes first: express tries each router's routes in order, so /introspect and /issue
    // pass no other router's path checks. No two routers share a path, so the order changes no answer.
    routers: [
      ...introspection.routers,
      ...issuance.routers,
      metricsRouter(),
      ledgerRouter({
        store,
        view: ledger.writer,
        verifiers: signers.map((s) => s.verifier),
        origin: config.CTP_LEDGER_ORIGIN,
        auditorAuth: auditorAuth({ auditors: loadAuditors(config.CTP_PARTNERS_FILE), devMode: config.CTP_DEV_MODE }),
      }),
      receiptsRouter({ events: bus, auth, store, view: ledger.writer }),
      ...revocation.routers,
    ],
  });
  const server = await listen(app, config.CTP_PORT, config.CTP_HOST, { tls });
  revocation.attach(server);
  return {
    server,
    url: baseUrl(server),
    bus,
    revocationList,
    close: async () => {
      revocation.disconnect();
      server.closeAllConnections();
      await close(server);
      await introspection.stop();
      await revocation.stop();
      await ledger.stop();
      await bus.close();
      redis?.disconnect();
      await stores.close();
      await embeddedDb?.close();
      await issuance.stop();
    },
  };
}

export function banner(config: UpConfig, url: string): string {
  const lines = [
    `CTP is up on ${url}`,
    '  POST /issue   POST /introspect   POST /revoke   GET /.well-known/jwks.json   POST /funnel-events',
    '  GET /revocations?since=   GET /revocations/stream (SSE)   /revocations/ws (WebSocket)   GET /metrics /healthz /readyz',
    '  GET /admin/keys   POST /admin/keys/changes   POST /admin/keys/changes/{id}/approvals (operators, dual control)',
    '  GET /ledger/checkpoint   /ledger/entries/{seq}   /ledger/proofs/inclusion   /ledger/proofs/consistency   /ledger/anchors',
    '  POST /receipts   GET /receipts/{id} (a partner guard\'s receipts, with ledger entry and inclusion proof)',
    `  data directory: ${config.CTP_DATA_DIR} (${config.CTP_KMS_KEY ? '' : 'signing keys, '}subject secret)`,
    ...(config.CTP_KMS_KEY ? [`  token signing key: Cloud KMS ${config.CTP_KMS_KEY}${config.CTP_KMS_ENDPOINT ? ` at ${config.CTP_KMS_ENDPOINT}` : ''}`] : []),
    `  event bus: ${config.CTP_NATS_URL ? `NATS JetStream at ${config.CTP_NATS_URL}` : 'in-process'};` +
      ` revocation list: ${config.CTP_REDIS_URL ? `Redis at ${config.CTP_REDIS_URL}` : 'in-process'};` +
      ` ledger: ${config.CTP_DATABASE_URL ? 'PostgreSQL' : 'embedded PGlite'};` +
      ` anchoring: ${config.CTP_TSA_URL ? `RFC 3161 at ${config.CTP_TSA_URL}` : 'off'}`,
  ];
  if (config.CTP_DEV_MODE) {
    lines.push(
      '  DEV MODE: requests without a credential are accepted as the built-in "demo" partner, and',
      '  shell-unquoted JSON bodies are tolerated. Never expose this; set CTP_DEV_MODE=false and',
      '  CTP_PARTNERS_FILE for real partners.',
    );
  }
  return lines.join('\n');
}
