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
};

/** Ledger writer settings (ctp up and apps/ledger-writer). */
export const ledgerEnv = {
  /** Checkpoint origin line (C2SP tlog-checkpoint), naming this log. */
  CTP_LEDGER_ORIGIN: z.string().regex(/^[\x21-\x7e]+$/).default('ctp.local/ledger'),
  /** Also sign checkpoints with ML-DSA-65 (hybrid post-quantum). */
  CTP_LEDGER_HYBRID: bool(false),
  /** Entries per append transaction, and the longest a batch waits to fill. */
  CTP_LEDGER_BATCH_SIZE: z.coerce.number().int().min(1).max(5000).default(256),
  CTP_LEDGER_BATCH_WAIT_MS: z.coerce.number().int().min(1).default(250),
  /** Period of signed checkpoints while entries arrive. */
  CTP_LEDGER_CHECKPOINT_INTERVAL_MS: z.coerce.number().int().min(50).max(1000).default(500),
  /** A new durable consumer starts at events stored from this time (RFC 3339); unset: every retained event. */
  CTP_LEDGER_REPLAY_FROM: z.iso.datetime({ offset: true }).optional(),
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
