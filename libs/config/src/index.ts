import { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads environment variables through a zod schema whose keys are the variable
 * names. Every bad variable is reported at once, with its name and the rule.
 */
export function readConfig<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    input[key] = value === '' ? undefined : value;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
}

export const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
export const host = () => z.string().default('127.0.0.1');
export const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1');
export const url = (fallback?: string) => (fallback === undefined ? z.url() : z.url().default(fallback));

/** Variables every partner-facing service reads. */
export const partnerEnv = {
  /** JSON file of partners (see docs/partners.md). Required unless dev mode. */
  CTP_PARTNERS_FILE: z.string().optional(),
  /** Accept calls without a credential as the built-in demo partner. Never in production. */
  CTP_DEV_MODE: bool(false),
};
export const issuerEnv = {
  /** The `iss` claim tokens carry and introspectors require. */
  CTP_ISSUER: url('http://127.0.0.1:8000'),
};

/** Signing key policy and dual control (issuer and `ctp up`). */
export const keyPolicyEnv = {
  /** Seconds a rotated-in key is published before it signs; above the JWKS Cache-Control max-age (60 s). */
  CTP_KEY_PREPUBLISH_SECONDS: z.coerce.number().int().min(61).max(86_400).default(120),
  /** The rotation policy: the active key is due for rotation at this age. */
  CTP_KEY_ROTATION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  /** JSON file of operators and their Ed25519 public keys; unset disables key changes over HTTP. */
  CTP_OPERATORS_FILE: z.string().optional(),
};

/** Backends. `ctp up` leaves them unset (embedded); standalone services default to local servers. */
export const backendEnv = (defaults: { nats?: string; redis?: string }) => ({
  /** NATS JetStream server(s); unset in ctp up means the in-process bus. */
  CTP_NATS_URL: defaults.nats === undefined ? z.string().optional() : z.string().default(defaults.nats),
  /** Redis for the revocation list and token owners; unset in ctp up means in-process. */
  CTP_REDIS_URL: defaults.redis === undefined ? z.string().optional() : z.string().default(defaults.redis),
  /** Prefix of every Redis key CTP writes. */
  CTP_REDIS_PREFIX: z.string().default('ctp:'),
});
export const LOCAL_NATS = 'nats://127.0.0.1:4222';

const DAY_MS = 24 * 3600 * 1000;
/**
 * JetStream streams and durable consumers (every service that talks to NATS creates or updates
 * the streams it uses with these, so give every service the same values; the chart sets them once).
 */
export const natsEnv = {
  /** Replicas of every stream (1, 3 or 5): 3 on a NATS cluster (the chart's default), 1 on a single server. */
  CTP_NATS_STREAM_REPLICAS: z.coerce.number().int().refine((n) => n === 1 || n === 3 || n === 5, 'one of 1, 3, 5').default(1),
  /** Most bytes each stream keeps (-1: no limit); past it the oldest events are discarded. */
  CTP_NATS_STREAM_MAX_BYTES: z.coerce.number().int().min(-1).default(-1),
  /** How long the ledger stream keeps events: the longest ledger-writer outage nothing is lost in (at least 1 hour). */
  CTP_NATS_LEDGER_MAX_AGE_MS: z.coerce.number().int().min(3_600_000).default(7 * DAY_MS),
  /** Durable consumers: how long a delivered batch waits for its acknowledgement before it is redelivered (a dead writer's batch). */
  CTP_NATS_ACK_WAIT_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
};
/** The JetStream settings of natsEnv, as the bus and the stream specs take them. */
export interface JetStreamSettings {
  replicas: number;
  maxBytes: number;
  ledgerMaxAgeMs: number;
  ackWaitMs: number;
}
export function jetStreamSettings(config: { CTP_NATS_STREAM_REPLICAS: number; CTP_NATS_STREAM_MAX_BYTES: number; CTP_NATS_LEDGER_MAX_AGE_MS: number; CTP_NATS_ACK_WAIT_MS: number }): JetStreamSettings {
  return { replicas: config.CTP_NATS_STREAM_REPLICAS, maxBytes: config.CTP_NATS_STREAM_MAX_BYTES, ledgerMaxAgeMs: config.CTP_NATS_LEDGER_MAX_AGE_MS, ackWaitMs: config.CTP_NATS_ACK_WAIT_MS };
}
export const LOCAL_REDIS = 'redis://127.0.0.1:6379';
export const revocationSyncEnv = {
  /** How often an introspector re-reads the CRL while the bus is down. */
  CTP_REVOCATION_PULL_INTERVAL_MS: z.coerce.number().int().min(100).default(1000),
  /** Without the bus and a fresh CRL read for this long, introspection denies (fail closed). */
  CTP_REVOCATION_STALE_AFTER_MS: z.coerce.number().int().min(500).default(5000),
};
export const feedEnv = {
  /** Poll interval advertised to GET /revocations clients. */
  CTP_POLL_INTERVAL_MS: z.coerce.number().int().min(100).default(1000),
  /** Heartbeat period on SSE and WebSocket push channels. */
  CTP_PUSH_HEARTBEAT_MS: z.coerce.number().int().min(100).default(15000),
  /** Most SSE and WebSocket push streams one partner may hold open on one broadcaster. */
  CTP_PUSH_MAX_STREAMS: z.coerce.number().int().min(1).max(10_000).default(50),
};

/** Ledger writer settings (ctp up and apps/ledger-writer). */
export const ledgerEnv = {
  /** Checkpoint origin line (C2SP tlog-checkpoint), naming this log. */
  CTP_LEDGER_ORIGIN: z.string().regex(/^[\x21-\x7e]+$/).default('ctp.local/ledger'),
  /** Also sign checkpoints with ML-DSA-65 (hybrid post-quantum). */
  CTP_LEDGER_HYBRID: bool(false),
  /**
   * Most entries per append transaction. Batches are group commits: a batch takes every event
   * already delivered and goes as soon as the previous one is written, so it is small under a
   * trickle and full under a backlog; CTP_LEDGER_BATCH_WAIT_MS bounds how long it keeps filling
   * while the previous batch is still being written.
   */
  CTP_LEDGER_BATCH_SIZE: z.coerce.number().int().min(1).max(5000).default(4000),
  CTP_LEDGER_BATCH_WAIT_MS: z.coerce.number().int().min(1).default(250),
  /** Period of signed checkpoints while entries arrive (none while the ledger is idle). */
  CTP_LEDGER_CHECKPOINT_INTERVAL_MS: z.coerce.number().int().min(50).max(1000).default(250),
  /**
   * Durable consumer name on the bus: the writer's position in the streams. Writers sharing it share the
   * events (HA replicas of one ledger); two ledgers on one NATS need two names, or each gets part of the events.
   */
  CTP_LEDGER_DURABLE: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('ledger-writer'),
  /** A new durable consumer starts at events stored from this time (RFC 3339); unset: every retained event. */
  CTP_LEDGER_REPLAY_FROM: z.iso.datetime({ offset: true }).optional(),
  /** RFC 3161 time-stamping authority anchoring checkpoints (HTTP POST application/timestamp-query); unset: no anchoring. */
  CTP_TSA_URL: z
    .string()
    .regex(/^https?:\/\/[^\s]+$/, 'an http(s) URL')
    .optional(),
  /** PEM file with the root certificate(s) the TSA's certificate must chain to (required with CTP_TSA_URL). */
  CTP_TSA_ROOTS: z.string().optional(),
  /** Period between anchors of the latest checkpoint (default one week). */
  CTP_LEDGER_ANCHOR_INTERVAL_MS: z.coerce.number().int().min(1000).default(7 * 24 * 3600 * 1000),
  /** Storage tiers (docs/ledger-tiers.md): days in PostgreSQL, then in warm segments, until retention ends. */
  CTP_LEDGER_HOT_DAYS: z.coerce.number().int().min(1).max(36500).default(90),
  CTP_LEDGER_WARM_DAYS: z.coerce.number().int().min(1).max(36500).default(365),
  CTP_LEDGER_COLD_DAYS: z.coerce.number().int().min(1).max(36500).default(2555),
  /** Directories of warm and cold segment files (stand-ins for object storage classes). */
  CTP_LEDGER_WARM_DIR: z.string().min(1).default('var/ledger/warm'),
  CTP_LEDGER_COLD_DIR: z.string().min(1).default('var/ledger/cold'),
  /** Period of the retention job in the ledger writer; 0 turns it off (run `ctp ledger retention` instead). */
  CTP_LEDGER_RETENTION_INTERVAL_MS: z.coerce.number().int().min(0).default(0),
  /** PostgreSQL schema holding the ledger tables. */
  CTP_DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/).default('public'),
};

/** Optional TLS termination in the service itself (otherwise plain HTTP behind the ingress). */
export const tlsEnv = {
  /** PEM certificate chain; set together with CTP_TLS_KEY_FILE, or neither. */
  CTP_TLS_CERT_FILE: z.string().optional(),
  /** PEM private key; read once at start, never logged. */
  CTP_TLS_KEY_FILE: z.string().optional(),
};

/** Both TLS files or neither: refine a schema that spreads tlsEnv with this. */
export function tlsFilesPaired(config: TlsConfig): boolean {
  return (config.CTP_TLS_CERT_FILE === undefined) === (config.CTP_TLS_KEY_FILE === undefined);
}
export const TLS_PAIR_MESSAGE = { message: 'set CTP_TLS_CERT_FILE and CTP_TLS_KEY_FILE together, or neither', path: ['CTP_TLS_KEY_FILE'] };

/** At most `requests` per `periodSeconds`, smoothly (GCRA), with bursts of up to `requests`. */
export interface RateLimit {
  requests: number;
  periodSeconds: number;
}

/** "<requests>/<seconds>s", e.g. "5000/1s" or "10/60s". */
export const rateLimitSpec = () =>
  z
    .string()
    .regex(/^[1-9][0-9]{0,8}\/[1-9][0-9]{0,5}s$/, 'write <requests>/<seconds>s, e.g. 5000/1s')
    .transform((spec): RateLimit => {
      const slash = spec.indexOf('/');
      return { requests: Number(spec.slice(0, slash)), periodSeconds: Number(spec.slice(slash + 1, -1)) };
    });

/** Endpoint classes that carry per-partner rate limits. */
export const RATE_LIMITED_ENDPOINTS = ['issue', 'introspect', 'revoke'] as const;
export type RateLimitedEndpoint = (typeof RATE_LIMITED_ENDPOINTS)[number];

/**
 * Per-partner limits, each partner counted separately (partners files may override them
 * per partner). High defaults: they stop runaway clients, not normal load.
 */
export const rateLimitEnv = {
  CTP_RATE_LIMIT_ISSUE: rateLimitSpec().prefault('20000/1s'),
  CTP_RATE_LIMIT_INTROSPECT: rateLimitSpec().prefault('50000/1s'),
  CTP_RATE_LIMIT_REVOKE: rateLimitSpec().prefault('5000/1s'),
};

export function rateLimitsOf(config: RateLimitConfig): Record<RateLimitedEndpoint, RateLimit> {
  return { issue: config.CTP_RATE_LIMIT_ISSUE, introspect: config.CTP_RATE_LIMIT_INTROSPECT, revoke: config.CTP_RATE_LIMIT_REVOKE };
}

/** A Cloud KMS CryptoKeyVersion resource name: projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V. */
export const CRYPTO_KEY_VERSION_PATTERN = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+\/cryptoKeyVersions\/[^/]+$/;

/** Token signing in Google Cloud KMS (ctp up and the issuer). Unset CTP_KMS_KEY: the local key directory. */
export const kmsEnv = {
  /** CryptoKeyVersion (EC_SIGN_P256_SHA256) that signs consent tokens. */
  CTP_KMS_KEY: z
    .string()
    .regex(CRYPTO_KEY_VERSION_PATTERN, 'must be a CryptoKeyVersion resource name')
    .optional(),
  /** More CryptoKeyVersions published in the JWKS (comma-separated): the next key before it signs, the previous one until its tokens expire. */
  CTP_KMS_PUBLISHED_KEYS: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''))
    .pipe(z.array(z.string().regex(CRYPTO_KEY_VERSION_PATTERN, 'must be CryptoKeyVersion resource names'))),
  /** host:port of a plaintext KMS API endpoint (a local stand-in); unset: cloudkms.googleapis.com with Application Default Credentials. */
  CTP_KMS_ENDPOINT: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port').optional(),
  /** Deadline of each KMS call; a request never waits longer for a signature. */
  CTP_KMS_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(3000),
};

/**
 * The settings each fragment yields once read (z.infer of the fragment): the one spelling of the
 * environment's shape. Libraries never see these; the adapters below turn them into their options.
 */
type Settings<Fragment extends z.ZodRawShape> = z.infer<z.ZodObject<Fragment>>;
type TlsConfig = Settings<typeof tlsEnv>;
type RateLimitConfig = Settings<typeof rateLimitEnv>;
type KmsConfig = Settings<typeof kmsEnv>;
type KeyPolicyConfig = Settings<typeof keyPolicyEnv>;
type LedgerConfig = Settings<typeof ledgerEnv>;

/** The TLS files @ctp/http loadTls reads, from tlsEnv. */
export const tlsFiles = (config: TlsConfig) => ({ certFile: config.CTP_TLS_CERT_FILE, keyFile: config.CTP_TLS_KEY_FILE });

/** @ctp/keys openTokenKeys options, from kmsEnv and keyPolicyEnv: Cloud KMS when CTP_KMS_KEY is set, else the key directory `keyDir`. */
export function tokenKeyOptions(config: KmsConfig & KeyPolicyConfig, keyDir: string) {
  return {
    keyDir,
    kmsKey: config.CTP_KMS_KEY,
    kmsPublishedKeys: config.CTP_KMS_PUBLISHED_KEYS,
    kmsEndpoint: config.CTP_KMS_ENDPOINT,
    kmsTimeoutMs: config.CTP_KMS_TIMEOUT_MS,
    policy: { prePublishSeconds: config.CTP_KEY_PREPUBLISH_SECONDS, rotationPeriodSeconds: config.CTP_KEY_ROTATION_DAYS * 86_400 },
  };
}

/** The storage tiers of ledgerEnv (@ctp/ledger RetentionPolicy). */
export const retentionPolicyOf = (config: LedgerConfig) => ({
  hotDays: config.CTP_LEDGER_HOT_DAYS,
  warmDays: config.CTP_LEDGER_WARM_DAYS,
  coldDays: config.CTP_LEDGER_COLD_DAYS,
  warmDir: config.CTP_LEDGER_WARM_DIR,
  coldDir: config.CTP_LEDGER_COLD_DIR,
});

/** @ctp/ledger startLedger options, from ledgerEnv. */
export function ledgerOptions(config: LedgerConfig) {
  return {
    origin: config.CTP_LEDGER_ORIGIN,
    batchSize: config.CTP_LEDGER_BATCH_SIZE,
    batchWaitMs: config.CTP_LEDGER_BATCH_WAIT_MS,
    checkpointIntervalMs: config.CTP_LEDGER_CHECKPOINT_INTERVAL_MS,
    replayFrom: config.CTP_LEDGER_REPLAY_FROM,
    retentionIntervalMs: config.CTP_LEDGER_RETENTION_INTERVAL_MS,
    anchoring: { tsaUrl: config.CTP_TSA_URL, tsaRoots: config.CTP_TSA_ROOTS, intervalMs: config.CTP_LEDGER_ANCHOR_INTERVAL_MS },
    tiers: retentionPolicyOf(config),
  };
}
