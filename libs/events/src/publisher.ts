import type { EventBus } from '@ctp/bus';

/** Where producers send events: the bus's publish, which resolves once the event is stored durably. */
export type EventPublisher = Pick<EventBus, 'publish'>;

/** What every catalogued payload carries: its producer-assigned id (the dedup id and the ledger's event_id) and its type. */
export interface EventPayload {
  event_id: string;
  type: string;
}

/** An event as a builder of this catalogue makes it: the subject it goes to and its payload. */
export interface CatalogueEvent<T extends EventPayload = EventPayload> {
  subject: string;
  data: T;
}

/**
 * Publishes a catalogued event with its `event_id` as the bus's deduplication id, so a
 * retried publish is stored once and the ledger appends it once.
 */
export function publishEvent(publisher: EventPublisher, event: CatalogueEvent, headers?: Record<string, string>): Promise<number> {
  return publisher.publish(event.subject, event.data, { msgId: event.data.event_id, ...(headers ? { headers } : {}) });
}
