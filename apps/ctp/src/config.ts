import { z } from 'zod';
import {
  backendEnv,
  natsEnv,
  bool,
  feedEnv,
  host,
  issuerEnv,
  keyPolicyEnv,
  kmsEnv,
  ledgerEnv,
  port,
  rateLimitEnv,
  readConfig,
  revocationSyncEnv,
  TLS_PAIR_MESSAGE,
  tlsEnv,
  tlsFilesPaired,
} from '@ctp/config';
import { DEFAULT_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS } from '@ctp/ctp-core';

/** `ctp up`: every service in one process with embedded defaults. */
export const upConfigSchema = z.object({
  CTP_HOST: host(),
  CTP_PORT: port(8000),
  ...issuerEnv,
  ...keyPolicyEnv,
  ...backendEnv({}),
  ...natsEnv,
  ...revocationSyncEnv,
  ...feedEnv,
  ...ledgerEnv,
  ...tlsEnv,
  ...rateLimitEnv,
  ...kmsEnv,
  /** PostgreSQL for the ledger, as the writer's role; unset means embedded PGlite in CTP_DATA_DIR/ledger-db. */
  CTP_DATABASE_URL: z.string().optional(),
  /** The same database as the tables' owner, for migrations (and the retention job); only with CTP_DATABASE_URL. */
  CTP_DATABASE_OWNER_URL: z.string().optional(),
  /** Keys, the subject secret, checkpoint keys and the embedded ledger database live here (created on first run). */
  CTP_DATA_DIR: z.string().default('var/ctp'),
  CTP_TOKEN_TTL_SECONDS: z.coerce.number().int().min(1).max(MAX_TOKEN_TTL_SECONDS).default(DEFAULT_TOKEN_TTL_SECONDS),
  CTP_PARTNERS_FILE: z.string().optional(),
  /** On by default for `ctp up` so the guide's curl examples work without credentials. */
  CTP_DEV_MODE: bool(true),
}).refine(tlsFilesPaired, TLS_PAIR_MESSAGE);
export type UpConfig = z.infer<typeof upConfigSchema>;
export const loadUpConfig = (env = process.env) => readConfig(upConfigSchema, env);
