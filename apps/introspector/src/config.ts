import { z } from 'zod';
import {
  backendEnv,
  natsEnv,
  host,
  issuerEnv,
  LOCAL_NATS,
  LOCAL_REDIS,
  partnerEnv,
  port,
  rateLimitEnv,
  readConfig,
  revocationSyncEnv,
  TLS_PAIR_MESSAGE,
  tlsEnv,
  tlsFilesPaired,
  url,
} from '@ctp/config';

export const introspectorConfigSchema = z.object({
  CTP_HOST: host(),
  CTP_PORT: port(8002),
  ...issuerEnv,
  ...partnerEnv,
  ...backendEnv({ nats: LOCAL_NATS, redis: LOCAL_REDIS }),
  ...natsEnv,
  ...revocationSyncEnv,
  ...tlsEnv,
  ...rateLimitEnv,
  /** The issuer's JWKS. */
  CTP_JWKS_URL: url('http://127.0.0.1:8001/.well-known/jwks.json'),
  /** Minimum time between JWKS refetches triggered by unknown kids. */
  CTP_JWKS_COOLDOWN_MS: z.coerce.number().int().min(0).default(1000),
  /** Verified tokens kept in the signature cache. */
  CTP_VERIFIED_CACHE_SIZE: z.coerce.number().int().min(0).default(100_000),
}).refine(tlsFilesPaired, TLS_PAIR_MESSAGE);
export type IntrospectorConfig = z.infer<typeof introspectorConfigSchema>;
export const loadIntrospectorConfig = (env = process.env) => readConfig(introspectorConfigSchema, env);
