import { createHash } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { PolicyShield, RouteRef, ShieldDecision } from './contracts';

/**
 * The guard's policy shields, written in Cedar (`policy/shield.cedar`, schema
 * `policy/shield.cedarschema`). Each requirement is one Cedar action asked about the calling
 * partner and the route: a permit makes it apply.
 *
 * - Binding requirement: `RequireChannelBinding`, `RequireKeyBinding`, `RequireHybrid`.
 * - Availability floor: `DegradeWhenOpen` (permitted: degrade to cached decisions while the breaker
 *   is open; otherwise fail closed).
 *
 * Every policy must carry a unique `@id("...")`; a decision names the ids of the policies that
 * determined it (Cedar's diagnostics), or `default` when none did (Cedar's default deny: no
 * requirement, fail closed). The sha-256 of the policy file is stamped on every decision.
 */

export const SHIELD_ACTIONS = {
  requireChannelBinding: 'RequireChannelBinding',
  requireKeyBinding: 'RequireKeyBinding',
  requireHybrid: 'RequireHybrid',
  degradeWhenOpen: 'DegradeWhenOpen',
} as const;

/** The id a decision carries when no policy applied (every answer is Cedar's default deny). */
export const DEFAULT_POLICY_ID = 'default';

export class PolicyError extends Error {
  constructor(message: string, readonly details: string[] = []) {
    super(details.length ? `${message}: ${details.join('; ')}` : message);
    this.name = 'PolicyError';
  }
}

/** A policy set parsed, checked for ids, validated against its schema and hashed. */
export interface LoadedPolicySet {
  /** sha-256 (hex) of the policy text. */
  hash: string;
  /** The policies' @id annotations, in file order. */
  ids: string[];
  /** Cedar policies keyed by their @id. */
  policies: Record<string, string>;
  /** The schema text the set was validated against. */
  schema: string;
}

const errorsOf = (errors: { message: string }[]) => errors.map((e) => e.message);

/**
 * Parses `text`, requires a unique @id on every policy (and no templates), validates the set
 * against `schema` in Cedar's strict mode and hashes the text. Throws PolicyError otherwise.
 */
export function loadPolicySet(text: string, schema: string): LoadedPolicySet {
  const schemaCheck = cedar.checkParseSchema(schema);
  if (schemaCheck.type === 'failure') throw new PolicyError('the policy schema does not parse', errorsOf(schemaCheck.errors));
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure') throw new PolicyError('the policy set does not parse', errorsOf(parts.errors));
  if (parts.policy_templates.length) throw new PolicyError('policy templates are not supported in the shields');
  const policies: Record<string, string> = {};
  const ids: string[] = [];
  for (const policy of parts.policies) {
    const json = cedar.policyToJson(policy);
    if (json.type === 'failure') throw new PolicyError('a policy does not convert', errorsOf(json.errors));
    const id = json.json.annotations?.['id'];
    if (!id) throw new PolicyError('every policy needs an @id annotation', [policy.split('\n').find((l) => l.trim()) ?? policy]);
    if (Object.hasOwn(policies, id) || id === DEFAULT_POLICY_ID) throw new PolicyError(`policy id ${id} is used twice or reserved`);
    policies[id] = policy;
    ids.push(id);
  }
  const validation = cedar.validate({ schema, policies: { staticPolicies: policies }, validationSettings: { mode: 'strict' } });
  if (validation.type === 'failure') throw new PolicyError('the policy set cannot be validated', errorsOf(validation.errors));
  if (validation.validationErrors.length) {
    throw new PolicyError('the policy set does not validate against its schema', validation.validationErrors.map((e) => `${e.policyId}: ${e.error.message}`));
  }
  return { hash: createHash('sha256').update(text, 'utf8').digest('hex'), ids, policies, schema };
}

/** Reads and loads the policy files (what the guard does at start, and CI does in a test). */
export function loadPolicyFiles(policyPath: string, schemaPath: string): LoadedPolicySet {
  return loadPolicySet(readFileSync(policyPath, 'utf8'), readFileSync(schemaPath, 'utf8'));
}

export interface CedarShieldOptions {
  policyPath: string;
  schemaPath: string;
  /**
   * Poll the files every this many ms (0: never) and reload once they have stayed unchanged for
   * one interval, so a file caught half-written (truncated, then written) is never loaded. Default 1000.
   */
  watchIntervalMs?: number;
  /** Decisions remembered per policy set (by partner, method and path). Default 1024. */
  cacheSize?: number;
  /** After a reload that changed the policy hash. */
  onReload?: (set: LoadedPolicySet) => void;
  /** A reload that failed: the previous policy set stays in force. */
  onError?: (err: Error) => void;
}

let nextSetId = 0;

export class CedarPolicyShield implements PolicyShield {
  private current: LoadedPolicySet;
  private setId = '';
  private schemaId = '';
  private readonly cache = new Map<string, ShieldDecision>();
  private readonly listener: (() => void) | null;
  private settling: NodeJS.Timeout | undefined;

  /** Loads and validates the policies; throws PolicyError if they are invalid (the guard must not start). */
  constructor(private readonly opts: CedarShieldOptions) {
    this.current = this.install(loadPolicyFiles(opts.policyPath, opts.schemaPath));
    const interval = opts.watchIntervalMs ?? 1000;
    this.listener =
      interval > 0
        ? () => {
            clearTimeout(this.settling);
            this.settling = setTimeout(() => this.reload(), interval).unref();
          }
        : null;
    if (this.listener) {
      watchFile(opts.policyPath, { interval, persistent: false }, this.listener);
      watchFile(opts.schemaPath, { interval, persistent: false }, this.listener);
      // A watch reports changes against its first stat of the file, which libuv's thread pool
      // takes some time after this: a change made in between (on a busy process) would be in
      // that first state and never reported. One more read after the first interval catches it.
      this.listener();
    }
  }

  get hash(): string {
    return this.current.hash;
  }

  get policyIds(): readonly string[] {
    return this.current.ids;
  }

  /**
   * Re-reads the files. A valid set replaces the current one (decisions from then on carry its
   * hash); an invalid one is reported to onError and the current set stays. Returns whether the
   * policy set changed.
   */
  reload(): boolean {
    try {
      const next = loadPolicyFiles(this.opts.policyPath, this.opts.schemaPath);
      if (next.hash === this.current.hash) return false;
      this.current = this.install(next);
      this.opts.onReload?.(next);
      return true;
    } catch (err) {
      this.opts.onError?.(err as Error);
      return false;
    }
  }

  decide(route: RouteRef, partnerId: string): ShieldDecision {
    const method = route.method.toUpperCase();
    const key = `${partnerId}\n${method}\n${route.path}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const routeId = `${method} ${route.path}`;
    const reasons = new Set<string>();
    const ask = (action: string): boolean => {
      const answer = cedar.statefulIsAuthorized({
        principal: { type: 'Signet::Partner', id: partnerId },
        action: { type: 'Signet::Action', id: action },
        resource: { type: 'Signet::Route', id: routeId },
        context: {},
        entities: [{ uid: { type: 'Signet::Route', id: routeId }, attrs: { method, path: route.path }, parents: [] }],
        preparsedPolicySetId: this.setId,
        preparsedSchemaName: this.schemaId,
        validateRequest: true,
      });
      if (answer.type === 'failure') throw new PolicyError('policy evaluation failed', errorsOf(answer.errors));
      const { decision, diagnostics } = answer.response;
      // A policy that errors makes Cedar skip it; the shield refuses to guess instead.
      if (diagnostics.errors.length) throw new PolicyError('a policy failed to evaluate', diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`));
      for (const id of diagnostics.reason) reasons.add(id);
      return decision === 'allow';
    };
    const decision: ShieldDecision = {
      requireChannelBinding: ask(SHIELD_ACTIONS.requireChannelBinding),
      requireKeyBinding: ask(SHIELD_ACTIONS.requireKeyBinding),
      requireHybrid: ask(SHIELD_ACTIONS.requireHybrid),
      whenOpen: ask(SHIELD_ACTIONS.degradeWhenOpen) ? 'degrade' : 'fail_closed',
      policyId: reasons.size ? [...reasons].sort().join(',') : DEFAULT_POLICY_ID,
      policyHash: this.current.hash,
    };
    Object.freeze(decision);
    if (this.cache.size >= (this.opts.cacheSize ?? 1024)) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, decision);
    return decision;
  }

  /** Stops watching the files. */
  close(): void {
    clearTimeout(this.settling);
    if (this.listener) {
      unwatchFile(this.opts.policyPath, this.listener);
      unwatchFile(this.opts.schemaPath, this.listener);
    }
  }

  /** Hands a validated set to Cedar's preparsed cache (under fresh ids, so a failure changes nothing). */
  private install(set: LoadedPolicySet): LoadedPolicySet {
    const n = nextSetId++;
    const schema = cedar.preparseSchema(`signet-schema-${n}`, set.schema);
    if (schema.type === 'failure') throw new PolicyError('the policy schema does not parse', errorsOf(schema.errors));
    const parsed = cedar.preparsePolicySet(`signet-policies-${n}`, { staticPolicies: set.policies });
    if (parsed.type === 'failure') throw new PolicyError('the policy set does not parse', errorsOf(parsed.errors));
    this.schemaId = `signet-schema-${n}`;
    this.setId = `signet-policies-${n}`;
    this.cache.clear();
    return set;
  }
}
