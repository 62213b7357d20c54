import { CtpError } from '@ctp/ctp-core';
import { consentRevokedEvent, publishEvent, type EventPublisher } from '@ctp/events';
import type { Partner } from '@ctp/partners';
import { consentRevoked, publishSpan } from '@ctp/telemetry';
import type { CrlEntry, CrlStore } from './crl';
import { unknownTokenExpiry } from './revocation_list';

export interface RevocationServiceOptions {
  bus: EventPublisher;
  crl: CrlStore;
}

function unavailable(what: string, cause: unknown): CtpError {
  return new CtpError('unavailable', `${what} is unavailable; retry the revocation (it is idempotent)`, { cause });
}

/**
 * POST /revoke. Order: ownership check -> CRL entry (TTL = remaining token life +
 * skew) -> publish on the bus (dedup id = jti) -> mark published -> answer. A crash
 * or outage after the CRL write leaves an entry every introspector still reads on
 * backfill, and the retry publishes it: no revocation is lost or published twice.
 */
export class RevocationService {
  constructor(private readonly options: RevocationServiceOptions) {}

  async revoke(partner: Partner, jti: string, reason: string, traceparent?: string | string[], nowMs = Date.now()): Promise<void> {
    const nowSeconds = nowMs / 1000;
    const { crl, bus } = this.options;
    let stored: { entry: CrlEntry; created: boolean };
    try {
      const owner = await crl.owner(jti);
      if (owner && owner.partnerId !== partner.id) {
        throw new CtpError('not_token_owner', `jti ${jti} was issued to another partner`);
      }
      stored = await crl.record(
        { jti, partnerId: owner?.partnerId ?? partner.id, reason, revokedAtMs: nowMs, expiresAt: owner?.expiresAt ?? unknownTokenExpiry(nowSeconds) },
        nowSeconds,
      );
    } catch (error) {
      throw error instanceof CtpError ? error : unavailable('the revocation list (Redis)', error);
    }
    const { entry, created } = stored;
    if (created) consentRevoked.inc({ partner: entry.partnerId });
    if (entry.seq !== undefined) return;
    const event = consentRevokedEvent({ jti, partner_id: entry.partnerId, reason: entry.reason, revoked_at_ms: entry.revokedAtMs, expires_at: entry.expiresAt });
    let seq: number;
    try {
      seq = await publishSpan(event.subject, traceparent, (headers) => publishEvent(bus, event, headers));
    } catch (error) {
      throw unavailable('the event bus (NATS)', error);
    }
    await crl.markPublished(entry, seq).catch(() => undefined);
  }
}
