import type { BusEvent, StreamSpec } from '@ctp/bus';
import type { LedgerEvent } from './store';

/** Ledger events other than revocations (those stay on the revocation stream, which the writer also reads). */
export const LEDGER_STREAM = 'CTP_LEDGER';
export const LEDGER_STREAM_SPEC: StreamSpec = { name: LEDGER_STREAM, subjects: ['ctp.ledger.>'], maxAgeMs: 7 * 24 * 3600 * 1000 };
export const ledgerSubject = (type: string) => `ctp.ledger.${type}`;

/**
 * The entry for a bus event. The producer's `event_id` (or, for revocations, the
 * jti) identifies it, so a redelivered event is recognised and appended once.
 */
export function toLedgerEvent(event: BusEvent<Record<string, unknown>>): LedgerEvent {
  const { event_id: eventId, type, ...data } = event.data;
  const kind = typeof type === 'string' ? type : event.subject.replace(/^ctp\.ledger\./, '');
  const id = typeof eventId === 'string' ? eventId : kind === 'consent.revoked' ? `consent.revoked:${String(data.jti)}` : `${event.subject}#${event.seq}`;
  return { eventId: id, type: kind, data };
}
