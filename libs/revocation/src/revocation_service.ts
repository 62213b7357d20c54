import { CtpError } from '@ctp/ctp-core';
import { consentRevokedEvent, publishEvent, type EventPublisher } from '@ctp/events';
import type { Partner } from '@ctp/partners';
import { consentRevoked, publishSpan } from '@ctp/telemetry';
import { unknownTokenExpiry } from './revocation_list';
import type { RevocationRecord, RevocationStore } from './revocation_store';
import type { TokenOwner, TokenOwnerRegistry } from './token_owners';

export interface RevocationServiceOptions {
  bus: EventPublisher;
  store: RevocationStore;
  owners: Pick<TokenOwnerRegistry, 'owner'>;
}

function unavailable(what: string, cause: unknown): CtpError {
  return new CtpError('unavailable', `${what} is unavailable; retry the revocation (it is idempotent)`, { cause });
}

/**
 * POST /revoke. Order: owner lookup (the issuance record on the bus) -> ownership check ->
 * revocation list entry (TTL = remaining token life + skew) -> publish on the bus (dedup id =
 * jti, remembered for the replay window) -> mark published -> answer. A crash or outage after the
 * list write leaves an entry every introspector still reads on backfill, and the retry publishes
 * it: no revocation is lost or published twice, even when Redis restarted empty in between.
 */
export class RevocationService {
  constructor(private readonly options: RevocationServiceOptions) {}

  async revoke(partner: Partner, jti: string, reason: string, traceparent?: string | string[], nowMs = Date.now()): Promise<void> {
    const nowSeconds = nowMs / 1000;
    const { store, owners, bus } = this.options;
    // While the bus is down nobody can say who owns the token. The revocation still goes into the
    // list (denied at once: failing safe), but nothing is published and the answer is 503; the
    // retry, with the bus back, checks ownership before anything reaches a partner's feed.
    let owner: TokenOwner | null = null;
    let ownerUnknown: unknown;
    try {
      owner = await owners.owner(jti);
    } catch (error) {
      ownerUnknown = error;
    }
    if (owner && owner.partnerId !== partner.id) throw new CtpError('not_token_owner', `jti ${jti} was issued to another partner`);
    const feedPartner = owner?.partnerId ?? partner.id;
    let stored: { entry: RevocationRecord; created: boolean };
    try {
      stored = await store.record({ jti, partnerId: feedPartner, reason, revokedAtMs: nowMs, expiresAt: owner?.expiresAt ?? unknownTokenExpiry(nowSeconds) }, nowSeconds);
    } catch (error) {
      throw unavailable('the revocation list (Redis)', error);
    }
    const { entry, created } = stored;
    if (created) consentRevoked.inc({ partner: feedPartner });
    if (ownerUnknown !== undefined) throw unavailable('the token owner registry (NATS)', ownerUnknown);
    if (entry.seq !== undefined) return;
    const event = consentRevokedEvent({ jti, partner_id: feedPartner, reason: entry.reason, revoked_at_ms: entry.revokedAtMs, expires_at: entry.expiresAt });
    let seq: number;
    try {
      seq = await publishSpan(event.subject, traceparent, (headers) => publishEvent(bus, event, headers));
    } catch (error) {
      throw unavailable('the event bus (NATS)', error);
    }
    await store.markPublished(entry, seq).catch(() => undefined);
  }
}
