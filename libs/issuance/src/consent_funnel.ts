import type { FunnelOutcome } from '@ctp/ctp-core';

/** Consent-dialog outcomes on the ledger stream (the ledger writer appends every `ctp.ledger.>` event). */
export const CONSENT_FUNNEL_SUBJECT = 'ctp.ledger.consent.funnel';

/** The `consent.funnel` event: a dialog outcome with its consent context, and no personal data. */
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

/**
 * The ledger and bus identity of a funnel event: the partner's own event id within the
 * partner's namespace, so a retried call is stored once and partners cannot collide.
 */
export const funnelEventId = (partnerId: string, eventId: string) => `consent.funnel:${partnerId}:${eventId.toLowerCase()}`;
