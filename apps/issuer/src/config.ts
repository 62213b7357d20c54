import { z } from 'zod';
import { backendEnv, natsEnv, host, issuerEnv, keyPolicyEnv, kmsEnv, LOCAL_NATS, LOCAL_REDIS, partnerEnv, port, rateLimitEnv, readConfig, TLS_PAIR_MESSAGE, tlsEnv, tlsFilesPaired } from '@ctp/config';
import { DEFAULT_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS } from '@ctp/ctp-core';

export const issuerConfigSchema = z.object({
  CTP_HOST: host(),
  CTP_PORT: port(8001),
  ...issuerEnv,
  ...keyPolicyEnv,
  ...partnerEnv,
  ...backendEnv({ nats: LOCAL_NATS, redis: LOCAL_REDIS }),
  ...natsEnv,
  ...tlsEnv,
  ...rateLimitEnv,
  ...kmsEnv,
  /** Directory of ES256 signing keys (created with mode 0700 on first run); not used when CTP_KMS_KEY is set. */
  CTP_KEY_DIR: z.string().default('var/issuer/keys'),
  /** File holding the pairwise-subject HMAC secret (created 0600 on first run). */
  CTP_SUBJECT_SECRET_FILE: z.string().default('var/issuer/subject.secret'),
  CTP_TOKEN_TTL_SECONDS: z.coerce.number().int().min(1).max(MAX_TOKEN_TTL_SECONDS).default(DEFAULT_TOKEN_TTL_SECONDS),
}).refine(tlsFilesPaired, TLS_PAIR_MESSAGE);
export type IssuerConfig = z.infer<typeof issuerConfigSchema>;
export const loadIssuerConfig = (env = process.env) => readConfig(issuerConfigSchema, env);
