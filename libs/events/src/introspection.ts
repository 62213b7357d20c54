import { randomUUID } from 'node:crypto';
import type { CatalogueEvent } from './publisher';
import { ledgerSubject } from './streams';

/** One /introspect decision as the ledger records it. */
export interface IntrospectionDecision {
  jti: string | null;
  decision: 'allow' | 'deny';
  reason: string | null;
  aud: string;
  purpose: string;
  at_ms: number;
}

/** `introspection.decisions`: a batch of decisions, so the hot path never waits for the bus. */
export interface IntrospectionDecisionsEvent {
  event_id: string;
  type: 'introspection.decisions';
  decisions: IntrospectionDecision[];
}

export const DECISIONS_SUBJECT = ledgerSubject('introspection.decisions');

/** A new batch event (a fresh id each: a batch is one occurrence, not a fact that may repeat). */
export function introspectionDecisionsEvent(decisions: IntrospectionDecision[]): CatalogueEvent<IntrospectionDecisionsEvent> {
  return { subject: DECISIONS_SUBJECT, data: { event_id: `introspection.decisions:${randomUUID()}`, type: 'introspection.decisions', decisions } };
}
