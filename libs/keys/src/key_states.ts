import { TOKEN_VERIFY_HORIZON_SECONDS } from '@ctp/ctp-core';

/**
 * The life of a signing key version, derived from recorded timestamps only, so
 * every process reading the same records at the same time agrees (no timers):
 *
 *   pending  — published in the JWKS, signs nothing until `activates_at`
 *   active   — the newest key whose `activates_at` has passed; signs every token
 *   retiring — superseded by a newer active key; still published until every
 *              token it signed has expired
 *   retired  — out of the JWKS
 *   revoked  — emergency revocation (compromise): out of the JWKS at once
 */
export type KeyStatus = 'pending' | 'active' | 'retiring' | 'retired' | 'revoked';

/** One key version as recorded (seconds since the epoch). */
export interface KeyVersion {
  kid: string;
  created_at: number;
  /** When it starts signing; equal to created_at for the first key and an emergency replacement. */
  activates_at: number;
  /** Set by an emergency revocation. */
  revoked_at?: number;
}

export interface KeyPolicy {
  /** How long a new key is published before it signs: longer than the JWKS Cache-Control max-age. */
  prePublishSeconds: number;
  /** How long a superseded key stays published: the longest token life plus the clock skew. */
  verifyHorizonSeconds: number;
  /** Rotate when the active key has signed this long (the 90-day policy). */
  rotationPeriodSeconds: number;
}

export const DEFAULT_PRE_PUBLISH_SECONDS = 120;
export const DEFAULT_ROTATION_PERIOD_SECONDS = 90 * 24 * 3600;

export const DEFAULT_KEY_POLICY: KeyPolicy = {
  prePublishSeconds: DEFAULT_PRE_PUBLISH_SECONDS,
  verifyHorizonSeconds: TOKEN_VERIFY_HORIZON_SECONDS,
  rotationPeriodSeconds: DEFAULT_ROTATION_PERIOD_SECONDS,
};

export interface KeyView {
  kid: string;
  status: KeyStatus;
  created_at: number;
  activates_at: number;
  /** When a newer key took over signing (retiring and retired keys). */
  superseded_at?: number;
  /** When it leaves the JWKS (retiring keys). */
  unpublish_at?: number;
  revoked_at?: number;
}

/** Keys in the order they started (or will start) signing; ties keep record order. */
function bySigningOrder(keys: readonly KeyVersion[]): KeyVersion[] {
  return keys.map((k, i) => ({ k, i })).sort((a, b) => a.k.activates_at - b.k.activates_at || a.i - b.i).map(({ k }) => k);
}

/**
 * Every key's status at `now`, newest first. The keys that have signed, in
 * activation order, each supersede the one before; the last of them is active
 * unless it was revoked. A revoked key leaves the JWKS at once (revocation adds an
 * immediate replacement). Should no key be active (a hand-edited directory), the
 * earliest pending key signs at once rather than signing stopping.
 */
export function keyStates(keys: readonly KeyVersion[], now: number, policy: Pick<KeyPolicy, 'verifyHorizonSeconds'>): KeyView[] {
  const signed = bySigningOrder(keys).filter((k) => k.activates_at <= now && (k.revoked_at === undefined || k.activates_at < k.revoked_at));
  const views = new Map<string, KeyView>();
  signed.forEach((k, i) => {
    if (k.revoked_at !== undefined) return;
    const next = signed[i + 1];
    const view: KeyView = { kid: k.kid, status: 'active', created_at: k.created_at, activates_at: k.activates_at };
    if (next) {
      const unpublishAt = next.activates_at + policy.verifyHorizonSeconds;
      Object.assign(view, { status: now < unpublishAt ? 'retiring' : 'retired', superseded_at: next.activates_at, unpublish_at: unpublishAt });
    }
    views.set(k.kid, view);
  });
  for (const k of keys) {
    if (views.has(k.kid)) continue;
    const base = { kid: k.kid, created_at: k.created_at, activates_at: k.activates_at };
    views.set(k.kid, k.revoked_at === undefined ? { ...base, status: 'pending' } : { ...base, status: 'revoked', revoked_at: k.revoked_at });
  }
  const ordered = [...keys].reverse().map((k) => views.get(k.kid) as KeyView);
  if (!ordered.some((v) => v.status === 'active')) {
    const earliest = bySigningOrder(keys).find((k) => views.get(k.kid)?.status === 'pending');
    const fallback = ordered.find((v) => v.kid === earliest?.kid);
    if (fallback) fallback.status = 'active';
  }
  return ordered;
}

/** The states at one instant and what follows from them: the JWKS and the signing key. */
export interface KeySnapshot {
  views: KeyView[];
  /** What the JWKS publishes: pending, active and retiring keys, newest first. */
  published: string[];
  active?: KeyView;
  /** Seconds the active key has been signing (0 before any key activated). */
  activeAgeSeconds: number;
}

export function keySnapshot(keys: readonly KeyVersion[], now: number, policy: Pick<KeyPolicy, 'verifyHorizonSeconds'>): KeySnapshot {
  const views = keyStates(keys, now, policy);
  const active = views.find((k) => k.status === 'active');
  return {
    views,
    published: views.filter((k) => k.status === 'pending' || k.status === 'active' || k.status === 'retiring').map((k) => k.kid),
    active,
    activeAgeSeconds: active ? Math.max(0, now - active.activates_at) : 0,
  };
}

export const activeKid = (keys: readonly KeyVersion[], now: number, policy: Pick<KeyPolicy, 'verifyHorizonSeconds'>): string | undefined =>
  keySnapshot(keys, now, policy).active?.kid;

export const publishedKids = (keys: readonly KeyVersion[], now: number, policy: Pick<KeyPolicy, 'verifyHorizonSeconds'>): string[] =>
  keySnapshot(keys, now, policy).published;

export const activeKeyAgeSeconds = (keys: readonly KeyVersion[], now: number, policy: Pick<KeyPolicy, 'verifyHorizonSeconds'>): number =>
  keySnapshot(keys, now, policy).activeAgeSeconds;

export class KeyStateError extends Error {
  constructor(
    readonly reason: 'rotation_pending' | 'unknown_kid' | 'not_revocable',
    message: string,
  ) {
    super(message);
    this.name = 'KeyStateError';
  }
}

/**
 * A scheduled rotation: the new key is published now and signs after the
 * pre-publish period, when the current active key starts retiring. One rotation
 * at a time, so the JWKS never grows without bound.
 */
export function planRotation(keys: readonly KeyVersion[], newKid: string, now: number, policy: KeyPolicy): KeyVersion[] {
  const pending = keyStates(keys, now, policy).find((k) => k.status === 'pending');
  if (pending) throw new KeyStateError('rotation_pending', `key ${pending.kid} is already pending; it activates at ${new Date(pending.activates_at * 1000).toISOString()}`);
  return [...keys, { kid: newKid, created_at: now, activates_at: now + policy.prePublishSeconds }];
}

/**
 * An emergency revocation: the key leaves the JWKS and stops signing at once.
 * When it was the active key, `replacementKid` signs from now on, without the
 * pre-publish wait (verifiers meet it as an unknown kid and refetch the JWKS).
 */
export function planRevocation(keys: readonly KeyVersion[], kid: string, replacementKid: string, now: number, policy: KeyPolicy): { keys: KeyVersion[]; replaced: boolean } {
  const view = keyStates(keys, now, policy).find((k) => k.kid === kid);
  if (!view) throw new KeyStateError('unknown_kid', `no key ${kid}`);
  if (view.status === 'revoked' || view.status === 'retired') throw new KeyStateError('not_revocable', `key ${kid} is already ${view.status}`);
  const next = keys.map((k) => (k.kid === kid ? { ...k, revoked_at: now } : k));
  if (view.status !== 'active') return { keys: next, replaced: false };
  return { keys: [...next, { kid: replacementKid, created_at: now, activates_at: now }], replaced: true };
}
