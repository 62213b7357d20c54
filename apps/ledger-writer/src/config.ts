import { z } from 'zod';
import { backendEnv, natsEnv, host, ledgerEnv, LOCAL_NATS, partnerEnv, port, readConfig, TLS_PAIR_MESSAGE, tlsEnv, tlsFilesPaired } from '@ctp/config';

export const ledgerWriterConfigSchema = z.object({
  CTP_HOST: host(),
  CTP_PORT: port(8004),
  // The writer keeps nothing in Redis: of the backends, only the bus.
  CTP_NATS_URL: backendEnv({ nats: LOCAL_NATS }).CTP_NATS_URL,
  ...natsEnv,
  ...ledgerEnv,
  ...tlsEnv,
  /** The partners file's `auditors` may read the ledger; in dev mode it is open to anyone. */
  ...partnerEnv,
  /** PostgreSQL holding the ledger, as the writer's role: INSERT and SELECT only (ctp_ledger_writer), never the owner outside dev mode. */
  CTP_DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/postgres'),
  /** The same database as the tables' owner: migrations at start (and the retention job, when it runs here). */
  CTP_DATABASE_OWNER_URL: z.string().optional(),
  /** Checkpoint signing keys (created 0600 on first run). */
  CTP_LEDGER_KEY_DIR: z.string().default('var/ledger-writer/keys'),
  /**
   * The leader lease (HA): writers share it in PostgreSQL and only its holder appends; the server
   * ends a silent holder's lease after this long, and a standby takes over. 0: no lease, exactly one replica.
   */
  CTP_LEDGER_LEASE_MS: z.coerce.number().int().min(0).max(600_000).refine((v) => v === 0 || v >= 300, '0 (no lease) or at least 300').default(5000),
}).refine(tlsFilesPaired, TLS_PAIR_MESSAGE);
export type LedgerWriterConfig = z.infer<typeof ledgerWriterConfigSchema>;
export const loadLedgerWriterConfig = (env = process.env) => readConfig(ledgerWriterConfigSchema, env);
