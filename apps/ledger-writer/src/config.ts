import { z } from 'zod';
import { backendEnv, host, ledgerEnv, LOCAL_NATS, port, readConfig, TLS_PAIR_MESSAGE, tlsEnv, tlsFilesPaired } from '@ctp/config';

export const ledgerWriterConfigSchema = z.object({
  CTP_HOST: host(),
  CTP_PORT: port(8004),
  // The writer keeps nothing in Redis: of the backends, only the bus.
  CTP_NATS_URL: backendEnv({ nats: LOCAL_NATS }).CTP_NATS_URL,
  ...ledgerEnv,
  ...tlsEnv,
  /** PostgreSQL holding the ledger (the role needs INSERT and SELECT on it; migrations need the owner). */
  CTP_DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/postgres'),
  /** Checkpoint signing keys (created 0600 on first run). */
  CTP_LEDGER_KEY_DIR: z.string().default('var/ledger-writer/keys'),
  /** Durable consumer name on the bus. */
  CTP_LEDGER_DURABLE: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('ledger-writer'),
}).refine(tlsFilesPaired, TLS_PAIR_MESSAGE);
export type LedgerWriterConfig = z.infer<typeof ledgerWriterConfigSchema>;
export const loadLedgerWriterConfig = (env = process.env) => readConfig(ledgerWriterConfigSchema, env);
