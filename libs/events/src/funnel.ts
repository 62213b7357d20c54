import type { FunnelOutcome } from '@ctp/ctp-core';
import type { CatalogueEvent } from './publisher';
import { ledgerSubject } from './streams';

/** `consent.funnel`: what a person did with a consent dialog, with its consent context and no personal data. */
export interface ConsentFunnelEvent {
  event_id: string;
  type: 'consent.funnel';
  partner_id: string;
  outcome: FunnelOutcome;
  purpose: string;
  features: string[];
  ui_copy_id: string;
  jurisdiction: string;
  /** When the person acted, as the partner reported it (RFC 3339). */
  at: string;
  /** When CTP accepted the event, ms since the epoch. */
  received_at_ms: number;
}

export const CONSENT_FUNNEL_SUBJECT = ledgerSubject('consent.funnel');

/**
 * The ledger and bus identity of a funnel event: the partner's own event id within the
 * partner's namespace, so a retried call is stored once and partners cannot collide.
 */
export const funnelEventId = (partnerId: string, eventId: string) => `consent.funnel:${partnerId}:${eventId.toLowerCase()}`;

/** A funnel event under the partner's id for it; the features are deduplicated and sorted, so a retry carries the same payload. */
export function consentFunnelEvent(
  partnerEventId: string,
  fields: Omit<ConsentFunnelEvent, 'event_id' | 'type' | 'features'> & { features: readonly string[] },
): CatalogueEvent<ConsentFunnelEvent> {
  return {
    subject: CONSENT_FUNNEL_SUBJECT,
    data: { event_id: funnelEventId(fields.partner_id, partnerEventId), type: 'consent.funnel', ...fields, features: [...new Set(fields.features)].sort() },
  };
}
