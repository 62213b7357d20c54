import type { RequestHandler, Router } from 'express';
import { CtpError, MAX_RECEIPTS_PER_BATCH, receiptBatchRequestSchema, parseOrThrow } from '@ctp/ctp-core';
import { guardReceiptEvent, guardReceiptEventId, publishEvent, receiptOfEvent, type EventPublisher, type GuardReceiptEntryData } from '@ctp/events';
import { apiRouter, jsonBody, methodNotAllowed, partnerOf } from '@ctp/http';
import type { LedgerView } from './reader';
import { checkpointJson, entryJson, inclusionProofJson } from './router';
import type { LedgerStore } from './store';

/** A full batch of receipts (about 700 bytes each at most) fits, and nothing much larger. */
export const MAX_RECEIPTS_BODY_BYTES = MAX_RECEIPTS_PER_BATCH * 1024 + 1024;

export interface ReceiptsRouterOptions {
  events: EventPublisher;
  /** Partner authentication: a partner forwards, and reads back, its own guard's receipts only. */
  auth: RequestHandler;
  store: LedgerStore;
  view: LedgerView;
}

/**
 * The guard's receipts (libs/guard) in CTP's ledger.
 *
 * POST /receipts: a batch of receipts from the partner's guard. Each becomes a `guard.receipt`
 * ledger event whose id is the receipt id in the partner's namespace, published with that id as
 * the bus's deduplication id; the ledger appends each event id once. The answer, once every event
 * is durable on the bus, acknowledges each receipt with its event id: the guard then marks it
 * forwarded. A batch re-sent after a lost answer is acknowledged again and stored once.
 *
 * GET /receipts/{id}: the receipt as the ledger holds it, its ledger entry, and its inclusion
 * proof in the tree of the newest signed checkpoint (null until a checkpoint covers the entry).
 */
export function receiptsRouter(options: ReceiptsRouterOptions): Router {
  const { store, view } = options;
  const router = apiRouter();
  router.post('/receipts', options.auth, jsonBody({ limit: MAX_RECEIPTS_BODY_BYTES }), async (req, res) => {
    const { receipts } = parseOrThrow(receiptBatchRequestSchema, req.body);
    const partner = partnerOf(res);
    const now = Date.now();
    const events = receipts.map((receipt) => guardReceiptEvent(partner.id, receipt, now));
    try {
      await Promise.all(events.map((event) => publishEvent(options.events, event)));
    } catch (error) {
      throw new CtpError('unavailable', 'the event bus (NATS) is unavailable; the receipts were not acknowledged', { cause: error });
    }
    res.json({ receipts: events.map((e) => ({ id: e.data.receipt_id, event_id: e.data.event_id })) });
  });
  router.get('/receipts/:id', options.auth, async (req, res) => {
    const id = req.params.id;
    if (typeof id !== 'string' || !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(id)) {
      throw new CtpError('validation_failed', 'id: a receipt id (UUID) is required', { errors: [{ field: 'id', rule: 'uuid', message: 'a UUID' }] });
    }
    const partner = partnerOf(res);
    const stored = await store.entryByEventId(guardReceiptEventId(partner.id, id));
    if (!stored) throw new CtpError('not_found', `no receipt ${id.toLowerCase()} of this partner in the ledger (yet)`);
    const data = stored.entry.data as unknown as GuardReceiptEntryData;
    const checkpoint = view.checkpointed;
    const covered = checkpoint !== null && stored.entry.seq <= checkpoint.size;
    res.json({
      receipt: receiptOfEvent(data),
      partner_id: data.partner_id,
      received_at_ms: data.received_at_ms,
      ledger: entryJson(stored),
      inclusion: covered ? inclusionProofJson(view, stored.entry.seq, checkpoint.size) : null,
      checkpoint: covered ? checkpointJson(checkpoint) : null,
    });
  });
  router.all('/receipts', methodNotAllowed('POST'));
  router.all('/receipts/:id', methodNotAllowed('GET'));
  return router;
}
