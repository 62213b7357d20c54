import type { EventBus, StreamSpec } from '@ctp/bus';
import { CANONICAL_JTI, REVOCATION_REPLAY_WINDOW_SECONDS } from '@ctp/ctp-core';

/** Which partner a token was issued to, and when it expires anyway. */
export interface TokenOwner {
  partnerId: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

/** The owner record as stored on the bus. */
export interface TokenOwnerEvent {
  partner_id: string;
  expires_at: number;
}

/**
 * Token owners live on their own JetStream stream, one subject per jti, found again with one
 * direct get by subject. Why there:
 * - Redis is a cache that may restart empty; an owner lost with it let any partner revoke another
 *   partner's live token and put the revocation in the wrong feed. JetStream keeps the stream in
 *   its file store, so ownership survives the loss of Redis (and a restart of NATS).
 * - Not the ledger stream's `consent.issued` event on a per-jti subject: that stream keeps 7 days
 *   (for the ledger writer), and nats-server holds a subject index entry per distinct subject in
 *   memory (measured: about 210 bytes each, so 60 million a week at 100 issues/s is ~12 GB). This
 *   stream keeps each owner only as long as a revocation of the token matters (the replay window,
 *   420 s), so its index stays small: ~90 MB at a sustained 1,000 issues/s.
 * - Not ownership inside the token: /revoke takes only a jti, and a keyed jti would change its
 *   format and need a secret shared by issuer and broadcaster.
 * Cost on /issue: this publish runs beside the `consent.issued` publish, replacing the Redis
 * write that ran before it, so issuance waits for one round of JetStream acknowledgements.
 */
export const TOKEN_OWNER_STREAM = 'CTP_TOKEN_OWNERS';
export const TOKEN_OWNER_STREAM_SPEC: StreamSpec = { name: TOKEN_OWNER_STREAM, subjects: ['ctp.owners.*'], maxAgeMs: REVOCATION_REPLAY_WINDOW_SECONDS * 1000 };

/** One subject per token; only canonical jtis (lowercase UUIDs) are subject tokens, so no jti can inject a wildcard or a dot. */
export function tokenOwnerSubject(jti: string): string {
  if (!CANONICAL_JTI.test(jti)) throw new RangeError('a token owner subject needs a canonical jti (lowercase UUID)');
  return `ctp.owners.${jti}`;
}

/** Records and looks up token owners on the bus (NATS JetStream, or the in-process bus under `ctp up`). */
export class TokenOwnerRegistry {
  constructor(private readonly bus: Pick<EventBus, 'publish' | 'lastBySubject'>) {}

  /** Resolves once the owner is stored durably. */
  async setOwner(jti: string, owner: TokenOwner): Promise<void> {
    const event: TokenOwnerEvent = { partner_id: owner.partnerId, expires_at: owner.expiresAt };
    await this.bus.publish(tokenOwnerSubject(jti), event);
  }

  /** The owner of a jti issued within the replay window, or null for a jti this deployment did not issue then. */
  async owner(jti: string): Promise<TokenOwner | null> {
    const stored = await this.bus.lastBySubject<TokenOwnerEvent>(TOKEN_OWNER_STREAM, tokenOwnerSubject(jti));
    return stored && { partnerId: stored.data.partner_id, expiresAt: stored.data.expires_at };
  }
}
