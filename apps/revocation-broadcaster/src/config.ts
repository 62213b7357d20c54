import { z } from 'zod';
import { backendEnv, natsEnv, feedEnv, host, LOCAL_NATS, LOCAL_REDIS, partnerEnv, port, rateLimitEnv, readConfig, TLS_PAIR_MESSAGE, tlsEnv, tlsFilesPaired } from '@ctp/config';

export const broadcasterConfigSchema = z.object({
  CTP_HOST: host(),
  CTP_PORT: port(8003),
  ...partnerEnv,
  ...backendEnv({ nats: LOCAL_NATS, redis: LOCAL_REDIS }),
  ...natsEnv,
  ...feedEnv,
  ...tlsEnv,
  ...rateLimitEnv,
}).refine(tlsFilesPaired, TLS_PAIR_MESSAGE);
export type BroadcasterConfig = z.infer<typeof broadcasterConfigSchema>;
export const loadBroadcasterConfig = (env = process.env) => readConfig(broadcasterConfigSchema, env);
