import type { BusEvent } from '@ctp/bus';
import { eventIdentity } from '@ctp/events';
import type { LedgerEvent } from './store';

/**
 * The entry for a bus event: its catalogue type and id (eventIdentity), and the rest
 * of its payload as the entry's data. The id makes a redelivered event append once.
 */
export function toLedgerEvent(event: BusEvent<Record<string, unknown>>): LedgerEvent {
  const { event_id: _eventId, type: _type, ...data } = event.data;
  const { type, eventId } = eventIdentity(event.subject, event.seq, event.data);
  return { eventId, type, data };
}
