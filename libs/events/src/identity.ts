import { consentRevokedEventId } from './consent';
import { ledgerTypeOf } from './streams';

/**
 * The type and id of an event read from the bus: what its payload says, and for
 * payloads without them (revocations published before they carried an event_id, which
 * stay on the stream for its retention) the ones their builder would have given.
 * Anything else without an id is identified by its stream position.
 */
export function eventIdentity(subject: string, seq: number, data: Record<string, unknown>): { type: string; eventId: string } {
  const type = typeof data.type === 'string' ? data.type : (ledgerTypeOf(subject) ?? subject);
  if (typeof data.event_id === 'string') return { type, eventId: data.event_id };
  if (type === 'consent.revoked' && typeof data.jti === 'string') return { type, eventId: consentRevokedEventId(data.jti) };
  return { type, eventId: `${subject}#${seq}` };
}
