import { randomUUID } from 'node:crypto';
import type { RequestHandler, Router } from 'express';
import { CLOCK_SKEW_SECONDS, CtpError, funnelEventRequestSchema, parseOrThrow } from '@ctp/ctp-core';
import { consentFunnelEvent, publishEvent, type EventPublisher } from '@ctp/events';
import { apiRouter, methodNotAllowed, partnerOf } from '@ctp/http';
import { consentFunnelEvents, publishSpan } from '@ctp/telemetry';

/** Funnel events older than this are refused: the dialog relays them at once, and old ones would skew today's rates. */
export const MAX_FUNNEL_EVENT_AGE_SECONDS = 24 * 3600;

export interface FunnelRouterOptions {
  events: EventPublisher;
  auth: RequestHandler;
  body: RequestHandler;
}

/**
 * POST /funnel-events: a partner backend relays what a person did with the consent dialog
 * (shown, agreed, declined, revoked). It becomes a `consent.funnel` ledger entry and a count
 * in ctp_consent_funnel_events_total{partner, outcome}, from which the consent-rate and
 * revocation-rate recording rules are computed. Answers once the event is durable on the bus.
 */
export function funnelRouter(options: FunnelRouterOptions): Router {
  const router = apiRouter();
  router.post('/funnel-events', options.auth, options.body, async (req, res) => {
    const request = parseOrThrow(funnelEventRequestSchema, req.body);
    const partner = partnerOf(res);
    const now = Date.now();
    const at = Date.parse(request.at);
    if (at > now + CLOCK_SKEW_SECONDS * 1000 || at < now - MAX_FUNNEL_EVENT_AGE_SECONDS * 1000) {
      throw new CtpError('validation_failed', 'at: not within the last 24 hours', {
        errors: [{ field: 'at', rule: 'recent', message: `within the last ${MAX_FUNNEL_EVENT_AGE_SECONDS / 3600} hours and not more than ${CLOCK_SKEW_SECONDS} s ahead` }],
      });
    }
    const event = consentFunnelEvent(request.event_id ?? randomUUID(), {
      partner_id: partner.id,
      outcome: request.outcome,
      purpose: request.purpose,
      features: request.features,
      ui_copy_id: request.ui_copy_id,
      jurisdiction: request.jurisdiction,
      at: request.at,
      received_at_ms: now,
    });
    try {
      await publishSpan(event.subject, req.headers.traceparent, (headers) => publishEvent(options.events, event, headers));
    } catch (error) {
      throw new CtpError('unavailable', 'the event bus (NATS) is unavailable; the event was not recorded', { cause: error });
    }
    consentFunnelEvents.inc({ partner: partner.id, outcome: request.outcome });
    res.json({ status: 'ok', event_id: event.data.event_id });
  });
  router.all('/funnel-events', methodNotAllowed('POST'));
  return router;
}
