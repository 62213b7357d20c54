import type { Router } from 'express';
import type { EventBus } from '@ctp/bus';
import type { Logger, Step } from '@ctp/http';
import { KeyRevocationWatch, type VerificationKeys } from '@ctp/keys';
import { RevocationSync, type RevocationStore } from '@ctp/revocation';
import { DecisionLog } from './decision_log';
import { Introspector } from './introspector';
import { introspectorRouter } from './router';

export interface IntrospectionStartOptions {
  /** The `iss` tokens must carry. */
  issuer: string;
  /** CRL re-read period while the bus is down, and the age past which introspection denies (fail closed). */
  pullIntervalMs: number;
  staleAfterMs: number;
  /** Verified tokens kept (default: the Introspector's). */
  cacheSize?: number;
}

export interface RunningIntrospection {
  /** POST /introspect. */
  routers: Router[];
  readiness: Record<string, () => boolean>;
  /** Stops the revocation view, the key revocation watch and the decision log. */
  stop(): Promise<void>;
}

/**
 * The introspector as apps/introspector and `ctp up` both run it: the decision log, the
 * local revocation view (push over the bus, pull from `store` while the bus is down),
 * emergency key revocations and the /introspect route. `onKeyRevoked` runs after the
 * revocation is logged (the standalone introspector refreshes its JWKS there).
 */
export async function startIntrospection(
  options: IntrospectionStartOptions,
  deps: { keys: VerificationKeys; bus: EventBus; store: RevocationStore; auth: Step; body: Step; logger: Logger; onKeyRevoked?: (kid: string) => void },
): Promise<RunningIntrospection> {
  const { bus, logger } = deps;
  const decisions = new DecisionLog({ events: bus });
  decisions.start();
  const revocations = new RevocationSync({
    bus,
    store: deps.store,
    pullIntervalMs: options.pullIntervalMs,
    staleAfterMs: options.staleAfterMs,
    onError: (error) => logger.warn({ err: error }, 'revocation list read failed'),
  });
  await revocations.start();
  const revokedKeys = new KeyRevocationWatch({
    bus,
    onRevoked: (kid) => {
      logger.warn({ kid }, 'signing key revoked: denying its tokens');
      deps.onKeyRevoked?.(kid);
    },
  });
  await revokedKeys.start();
  const introspector = new Introspector({ keys: deps.keys, issuer: options.issuer, revocations, revokedKeys, cacheSize: options.cacheSize });
  return {
    routers: [introspectorRouter({ introspector, decisions, auth: deps.auth, body: deps.body })],
    readiness: { revocations: () => revocations.ready },
    stop: async () => {
      await revocations.stop();
      await revokedKeys.stop();
      await decisions.stop();
    },
  };
}
