import type { CatalogueEvent } from './publisher';
import { ledgerSubject, revocationSubject } from './streams';

/** `consent.issued`: a token was signed for a partner; durable on the bus before the token is returned. */
export interface ConsentIssuedEvent {
  event_id: string;
  type: 'consent.issued';
  jti: string;
  partner_id: string;
  /** Pairwise pseudonym, never the partner's subject reference. */
  sub: string;
  aud: string;
  purpose: string;
  scope: string[];
  context_hash: string;
  channel: string;
  retention: string;
  jurisdiction: string;
  ui_copy_id: string;
  /** The client's consent time (envelope `ts`). */
  consent_ts: string;
  iat: number;
  exp: number;
  kid: string;
  policy_uri: string;
}

export const CONSENT_ISSUED_SUBJECT = ledgerSubject('consent.issued');

export function consentIssuedEvent(fields: Omit<ConsentIssuedEvent, 'event_id' | 'type'>): CatalogueEvent<ConsentIssuedEvent> {
  return { subject: CONSENT_ISSUED_SUBJECT, data: { event_id: `consent.issued:${fields.jti}`, type: 'consent.issued', ...fields } };
}

/** `consent.revoked`, on the partner's revocation subject (introspectors, partner feeds and the ledger read it). */
export interface ConsentRevokedEvent {
  event_id: string;
  type: 'consent.revoked';
  jti: string;
  partner_id: string;
  reason: string;
  /** Revocation time on the broadcaster's clock, ms since the epoch. */
  revoked_at_ms: number;
  /** When the revoked token expires anyway (s since the epoch); nothing needs the entry after that. */
  expires_at: number;
}

/** One id per jti: a revocation is published (and recorded) once, however often it is repeated. */
export const consentRevokedEventId = (jti: string) => `consent.revoked:${jti}`;

export function consentRevokedEvent(fields: Omit<ConsentRevokedEvent, 'event_id' | 'type'>): CatalogueEvent<ConsentRevokedEvent> {
  return { subject: revocationSubject(fields.partner_id), data: { event_id: consentRevokedEventId(fields.jti), type: 'consent.revoked', ...fields } };
}
