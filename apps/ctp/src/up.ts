import { join } from 'node:path';
import { connectBus, type EventBus } from '@ctp/bus';
import { rateLimitsOf, jetStreamSettings } from '@ctp/config';
import { auditorAuth, baseUrl, close, connectRedis, createLogger, createServiceApp, edgeControls, jsonBody, listen, loadTls, partnerAuth, type Logger, type Server } from '@ctp/http';
import { DecisionLog, Introspector, introspectorRouter } from '@ctp/introspection';
import { funnelRouter, idempotencyStore, IssuanceService, issuerRouter, keyAdministration } from '@ctp/issuance';
import { KeyRevocationWatch, loadOrCreateSecret, openTokenKeys, tokenKeySettings } from '@ctp/keys';
import { configuredStreams } from '@ctp/events';
import { ledgerRouter, loadCheckpointSigners, openLedgerStores, startEmbeddedPostgres, startLedger } from '@ctp/ledger';
import { loadAuditors, loadPartnerAuth } from '@ctp/partners';
import {
  attachRevocationWebSocket,
  RevocationFeed,
  revocationRouter,
  RevocationService,
  revocationStore,
  RevocationSync,
  TokenOwnerRegistry,
  type RevocationStore,
} from '@ctp/revocation';
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
 * Every service in one process on one port. The bus and the revocation list are
 * in-process unless CTP_NATS_URL / CTP_REDIS_URL name real servers.
 */
export async function startCtp(config: UpConfig, logger: Logger = createLogger('ctp')): Promise<RunningCtp> {
  const partners = loadPartnerAuth(config.CTP_PARTNERS_FILE, config.CTP_DEV_MODE);
  const tls = loadTls(config);
  const signing = await openTokenKeys(tokenKeySettings(config, join(config.CTP_DATA_DIR, 'keys')));
  // Key states, dual control and the age check govern the local key directory; with Cloud KMS,
  // versions are published and switched by configuration (docs/operations.md, "Rotate keys").
  const { keys, directory } = signing;
  const bus = await connectBus(config.CTP_NATS_URL, 'ctp-up', jetStreamSettings(config));
  const streams = configuredStreams(jetStreamSettings(config));
  await bus.ensureStreams([streams.revocation, streams.ledger, streams.tokenOwner]);
  const redis = await connectRedis(config.CTP_REDIS_URL);
  const edge = edgeControls({ redis, prefix: config.CTP_REDIS_PREFIX, limits: rateLimitsOf(config), logger });
  const revocationList = revocationStore(redis, config.CTP_REDIS_PREFIX);
  const owners = new TokenOwnerRegistry(bus);
  const revocations = new RevocationSync({
    bus,
    store: revocationList,
    pullIntervalMs: config.CTP_REVOCATION_PULL_INTERVAL_MS,
    staleAfterMs: config.CTP_REVOCATION_STALE_AFTER_MS,
    onError: (error) => logger.warn({ err: error }, 'revocation list read failed'),
  });
  await revocations.start();
  const revokedKeys = new KeyRevocationWatch({ bus, onRevoked: (kid) => logger.warn({ kid }, 'signing key revoked: denying its tokens') });
  await revokedKeys.start();
  const keyAdmin = keyAdministration(directory, { operatorsFile: config.CTP_OPERATORS_FILE, events: bus, body: jsonBody(), logger });
  const feed = new RevocationFeed(bus, { maxStreamsPerPartner: config.CTP_PUSH_MAX_STREAMS });
  await feed.start();
  const auth = partnerAuth(partners, edge.rateLimits);
  const body = jsonBody({ acceptShellMangledJson: config.CTP_DEV_MODE });
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
  const ledger = await startLedger(config, { store, ownerStore: stores.ownerStore, devMode: devDatabase, bus, signers, logger });
  const { writer } = ledger;
  const decisions = new DecisionLog({ events: bus });
  decisions.start();
  const issuance = new IssuanceService({
    keys,
    owners,
    events: bus,
    issuer: config.CTP_ISSUER,
    ttlSeconds: config.CTP_TOKEN_TTL_SECONDS,
    subjectSecret: loadOrCreateSecret(join(config.CTP_DATA_DIR, 'subject.secret')),
  });
  const introspector = new Introspector({ keys, issuer: config.CTP_ISSUER, revocations, revokedKeys });
  const app = createServiceApp({
    logger,
    readiness: { keys: () => keys.ready, revocations: () => revocations.ready, ...edge.readiness },
    routers: [
      metricsRouter(),
      issuerRouter({ service: issuance, keys, auth, body, idempotency: idempotencyStore(redis, config.CTP_REDIS_PREFIX) }),
      funnelRouter({ events: bus, auth, body }),
      ...keyAdmin.routers,
      introspectorRouter({ introspector, decisions, auth, body }),
      ledgerRouter({
        store,
        view: writer,
        verifiers: signers.map((s) => s.verifier),
        origin: config.CTP_LEDGER_ORIGIN,
        auditorAuth: auditorAuth({ auditors: loadAuditors(config.CTP_PARTNERS_FILE), devMode: config.CTP_DEV_MODE }),
      }),
      revocationRouter({
        service: new RevocationService({ bus, store: revocationList, owners }),
        feed,
        auth,
        body,
        pollIntervalMs: config.CTP_POLL_INTERVAL_MS,
        heartbeatMs: config.CTP_PUSH_HEARTBEAT_MS,
      }),
    ],
  });
  const server = await listen(app, config.CTP_PORT, config.CTP_HOST, { tls });
  const wss = attachRevocationWebSocket(server, { feed, auth: partners, heartbeatMs: config.CTP_PUSH_HEARTBEAT_MS });
  return {
    server,
    url: baseUrl(server),
    bus,
    revocationList,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      server.closeAllConnections();
      await close(server);
      keyAdmin.stop();
      await revocations.stop();
      await revokedKeys.stop();
      await feed.stop();
      await decisions.stop();
      await ledger.stop();
      await bus.close();
      redis?.disconnect();
      await stores.close();
      await embeddedDb?.close();
      await signing.close();
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
