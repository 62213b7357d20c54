import type { Cluster, Redis } from 'ioredis';
import type { Router } from 'express';
import type { EventPublisher } from '@ctp/events';
import { jsonBody, type Logger, type Step } from '@ctp/http';
import { loadOrCreateSecret, openTokenKeys, type TokenKeyOptions, type TokenKeys } from '@ctp/keys';
import { funnelRouter } from './funnel_router';
import { idempotencyStore } from './idempotency';
import { IssuanceService, type TokenOwners } from './issuance_service';
import { keyAdministration } from './key_admin';
import { issuerRouter } from './router';

export interface IssuanceStartOptions {
  /** The `iss` claim tokens carry. */
  issuer: string;
  ttlSeconds: number;
  /** The pairwise-subject secret (created on first start). */
  subjectSecretFile: string;
  /** Operators and their keys; unset disables key changes over HTTP. */
  operatorsFile?: string;
  /** Where the token keys live: Cloud KMS or the local key directory. */
  keys: TokenKeyOptions;
}

export interface RunningIssuance {
  /** The token keys (also what a co-located introspector verifies with). */
  keys: TokenKeys;
  /** Where the keys come from, for the start log. */
  signingSource: string;
  /** /issue, /.well-known/jwks.json, /funnel-events and the key administration routes. */
  routers: Router[];
  readiness: Record<string, () => boolean>;
  /** Stops the key age check and closes the KMS client. */
  stop(): Promise<void>;
}

/**
 * The issuer as apps/issuer and `ctp up` both run it: the token keys (Cloud KMS or the
 * local key directory, whose states, dual control and age check apply only to it), the
 * issuance service and its routes. Idempotency-Key records live in `redis` (in process without).
 */
export async function startIssuance(
  options: IssuanceStartOptions,
  deps: { events: EventPublisher; owners: TokenOwners; redis: Redis | Cluster | undefined; redisPrefix: string; auth: Step; body: Step; logger: Logger },
): Promise<RunningIssuance> {
  const signing = await openTokenKeys(options.keys);
  // Key states, dual control and the age check govern the local key directory; with Cloud KMS,
  // versions are published and switched by configuration (docs/operations.md, "Rotate keys").
  const { keys, directory } = signing;
  const keyAdmin = keyAdministration(directory, { operatorsFile: options.operatorsFile, events: deps.events, body: jsonBody(), logger: deps.logger });
  const service = new IssuanceService({
    keys,
    owners: deps.owners,
    events: deps.events,
    issuer: options.issuer,
    ttlSeconds: options.ttlSeconds,
    subjectSecret: loadOrCreateSecret(options.subjectSecretFile),
  });
  const { auth, body } = deps;
  return {
    keys,
    signingSource: signing.source,
    routers: [
      issuerRouter({ service, keys, auth, body, idempotency: idempotencyStore(deps.redis, deps.redisPrefix) }),
      funnelRouter({ events: deps.events, auth, body }),
      ...keyAdmin.routers,
    ],
    readiness: { keys: () => keys.ready },
    stop: async () => {
      keyAdmin.stop();
      await signing.close();
    },
  };
}
