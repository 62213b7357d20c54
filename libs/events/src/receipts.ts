import { guardReceiptEventId, type GuardReceipt } from '@ctp/ctp-core';
import type { CatalogueEvent } from './publisher';
import { ledgerSubject } from './streams';

/**
 * `guard.receipt`: one guarded request's decision at a partner's guard (libs/guard), forwarded to
 * CTP (POST /receipts) for the ledger. The receipt's fields as the guard recorded them, its id
 * as `receipt_id`, the authenticated partner and when CTP accepted it. No body, token or person.
 */
export type GuardReceiptEvent = Omit<GuardReceipt, 'id'> & {
  event_id: string;
  type: 'guard.receipt';
  receipt_id: string;
  partner_id: string;
  /** When CTP accepted the receipt, ms since the epoch. */
  received_at_ms: number;
};

export const GUARD_RECEIPT_SUBJECT = ledgerSubject('guard.receipt');

export { guardReceiptEventId };

/** A receipt as a ledger event. */
export function guardReceiptEvent(partnerId: string, receipt: GuardReceipt, receivedAtMs: number): CatalogueEvent<GuardReceiptEvent> {
  const { id, ...fields } = receipt;
  return {
    subject: GUARD_RECEIPT_SUBJECT,
    data: { event_id: guardReceiptEventId(partnerId, id), type: 'guard.receipt', receipt_id: id.toLowerCase(), partner_id: partnerId, ...fields, received_at_ms: receivedAtMs },
  };
}

/** The ledger entry's data for a receipt event: the payload without its event_id and type (the entry has them). */
export type GuardReceiptEntryData = Omit<GuardReceiptEvent, 'event_id' | 'type'>;

/** The receipt a `guard.receipt` event or ledger entry carries, in the guard's own form (what the guard stored locally). */
export function receiptOfEvent(data: GuardReceiptEntryData | GuardReceiptEvent): GuardReceipt {
  const { receipt_id, partner_id: _p, received_at_ms: _r, event_id: _e, type: _t, ...fields } = data as GuardReceiptEvent;
  return { id: receipt_id, ...fields };
}
