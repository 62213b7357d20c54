import type { Request, RequestHandler, Router } from 'express';
import { z } from 'zod';
import { CtpError, parseOrThrow } from '@ctp/ctp-core';
import { apiRouter, methodNotAllowed } from '@ctp/http';
import { CHANGE_ID, KEY_CHANGE_ACTIONS, KeyChanges, KID, OPERATOR_ID, OperatorRegistry, type KeyChange, type KeyDirectory } from '@ctp/keys';
import type { EventPublisher } from '@ctp/events';
import { signingKeyAge, signingKeyRotationPeriod, signingKeys } from '@ctp/telemetry';

export const KEY_ADMIN_PATH = '/admin/keys';

const signature = z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'an Ed25519 signature, base64url (86 characters)');
const operator = z.string().regex(OPERATOR_ID, 'an operator id from the operators file');

export const proposeKeyChangeSchema = z
  .object({
    id: z.string().regex(CHANGE_ID, '8 to 64 characters of A-Z a-z 0-9 . _ -'),
    action: z.enum(KEY_CHANGE_ACTIONS),
    kid: z.string().regex(KID, 'a kid'),
    expires_at: z.number().int().positive(),
    operator,
    signature,
  })
  .strict();

export const approveKeyChangeSchema = z.object({ operator, signature }).strict();

/** A change as the API shows it: who approved and when, not the signatures (those are in the ledger). */
export function changeView(change: KeyChange, required: number) {
  return {
    id: change.id,
    action: change.action,
    kid: change.kid,
    status: change.status,
    expires_at: change.expires_at,
    required_approvals: required,
    approvals: change.approvals.map((a) => ({ operator: a.operator, approved_at: a.approved_at })),
    ...(change.applied_at === undefined ? {} : { applied_at: change.applied_at, new_kid: change.new_kid ?? null }),
  };
}

export interface KeyAdminRouterOptions {
  keys: KeyDirectory;
  /** Absent when no operators file is configured: changes are then refused. */
  changes: KeyChanges | undefined;
  body: RequestHandler;
}

/**
 * Operator endpoints for dual-controlled key changes. They take no partner
 * credential: the only authority is an operator's Ed25519 signature in the body,
 * checked against the operators file, so a partner API key opens nothing here.
 */
export function keyAdminRouter(options: KeyAdminRouterOptions): Router {
  const router = apiRouter();
  const changes = (): KeyChanges => {
    if (!options.changes) throw new CtpError('not_found', 'key changes are disabled: no operators file is configured (CTP_OPERATORS_FILE)');
    return options.changes;
  };
  router.get(KEY_ADMIN_PATH, (_req, res) => {
    const now = Math.floor(Date.now() / 1000);
    const required = options.changes?.requiredApprovals ?? 2;
    res.json({
      keys: options.keys.states(now),
      active_key_age_seconds: options.keys.activeKeyAgeSeconds(now),
      rotation_period_seconds: options.keys.policy.rotationPeriodSeconds,
      pre_publish_seconds: options.keys.policy.prePublishSeconds,
      open_changes: (options.changes?.open(now) ?? []).map((c) => changeView(c, required)),
    });
  });
  router.all(KEY_ADMIN_PATH, methodNotAllowed('GET'));
  router.post(`${KEY_ADMIN_PATH}/changes`, options.body, async (req, res) => {
    const input = parseOrThrow(proposeKeyChangeSchema, req.body);
    const store = changes();
    res.status(201).json(changeView(await store.propose(input), store.requiredApprovals));
  });
  router.all(`${KEY_ADMIN_PATH}/changes`, methodNotAllowed('POST'));
  router.get(`${KEY_ADMIN_PATH}/changes/:id`, (req: Request<{ id: string }>, res) => {
    const store = changes();
    const change = store.get(req.params.id);
    if (!change) throw new CtpError('not_found', 'no such key change');
    res.json(changeView(change, store.requiredApprovals));
  });
  router.all(`${KEY_ADMIN_PATH}/changes/:id`, methodNotAllowed('GET'));
  router.post(`${KEY_ADMIN_PATH}/changes/:id/approvals`, options.body, async (req: Request<{ id: string }>, res) => {
    const input = parseOrThrow(approveKeyChangeSchema, req.body);
    const store = changes();
    if (!CHANGE_ID.test(req.params.id)) throw new CtpError('not_found', 'no such key change');
    res.json(changeView(await store.approve(req.params.id, input), store.requiredApprovals));
  });
  router.all(`${KEY_ADMIN_PATH}/changes/:id/approvals`, methodNotAllowed('POST'));
  return router;
}

/**
 * The scheduled rotation check: sets the key-age gauges now and every interval,
 * and reports an overdue key (the alert CTPSigningKeyRotationOverdue fires on the gauges).
 */
export function startKeyAgeCheck(
  keys: KeyDirectory,
  options: { intervalMs?: number; onOverdue?: (ageSeconds: number) => void; onError?: (error: unknown) => void } = {},
): () => void {
  const check = () => {
    try {
      checkOnce();
    } catch (error) {
      options.onError?.(error);
    }
  };
  const checkOnce = () => {
    const now = Math.floor(Date.now() / 1000);
    const age = keys.activeKeyAgeSeconds(now);
    signingKeyAge.set(age);
    signingKeyRotationPeriod.set(keys.policy.rotationPeriodSeconds);
    const counts: Record<string, number> = { pending: 0, active: 0, retiring: 0, retired: 0, revoked: 0 };
    for (const k of keys.states(now)) counts[k.status] = (counts[k.status] ?? 0) + 1;
    for (const [status, n] of Object.entries(counts)) signingKeys.set({ status }, n);
    if (age > keys.policy.rotationPeriodSeconds) options.onOverdue?.(age);
  };
  check();
  const timer = setInterval(check, options.intervalMs ?? 60_000);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Key administration for an issuer (and `ctp up`) whose keys are a local key directory:
 * the operator endpoints (dual control needs `operatorsFile`) and the scheduled age
 * check. With Cloud KMS there is no directory: versions change by configuration, so
 * nothing is mounted and nothing runs.
 */
export function keyAdministration(
  directory: KeyDirectory | undefined,
  options: { operatorsFile?: string; events: EventPublisher; body: RequestHandler; logger: { warn(fields: object, message: string): void; error(fields: object, message: string): void } },
): { routers: Router[]; stop(): void } {
  if (!directory) return { routers: [], stop: () => undefined };
  const changes = options.operatorsFile ? new KeyChanges({ keys: directory, operators: OperatorRegistry.load(options.operatorsFile), events: options.events }) : undefined;
  const stop = startKeyAgeCheck(directory, {
    onOverdue: (age) => options.logger.warn({ ageSeconds: age }, 'the active signing key is older than the rotation policy'),
    onError: (error) => options.logger.error({ err: error }, 'signing key age check failed'),
  });
  return { routers: [keyAdminRouter({ keys: directory, changes, body: options.body })], stop };
}
