import type { EventBus } from '@ctp/bus';
import { TOKEN_OWNER_STREAM, tokenOwnerRecord, tokenOwnerSubject, type TokenOwnerRecord } from '@ctp/events';

/** Which partner a token was issued to, and when it expires anyway. */
export interface TokenOwner {
  partnerId: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

/**
 * Records and looks up token owners on the bus (NATS JetStream, or the in-process bus under `ctp up`),
 * on the token owner stream of the event catalogue (why there: TOKEN_OWNER_STREAM in @ctp/events).
 * Cost on /issue: this publish runs beside the `consent.issued` publish, replacing the Redis
 * write that ran before it, so issuance waits for one round of JetStream acknowledgements.
 */
export class TokenOwnerRegistry {
  constructor(private readonly bus: Pick<EventBus, 'publish' | 'lastBySubject'>) {}

  /** Resolves once the owner is stored durably. */
  async setOwner(jti: string, owner: TokenOwner): Promise<void> {
    const record = tokenOwnerRecord(jti, { partner_id: owner.partnerId, expires_at: owner.expiresAt });
    await this.bus.publish(record.subject, record.data);
  }

  /** The owner of a jti issued within the replay window, or null for a jti this deployment did not issue then. */
  async owner(jti: string): Promise<TokenOwner | null> {
    const stored = await this.bus.lastBySubject<TokenOwnerRecord>(TOKEN_OWNER_STREAM, tokenOwnerSubject(jti));
    return stored && { partnerId: stored.data.partner_id, expiresAt: stored.data.expires_at };
  }
}
