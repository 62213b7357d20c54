/**
 * The event catalogue: every stream, subject and event payload CTP publishes, each
 * payload built (with its `event_id`) by one function here. A new event (a guard
 * receipt, say) gets a module beside these: its payload type, its subject
 * (ledgerSubject(type) to land in the ledger) and its builder, exported below.
 */
export {
  ALL_LEDGER_EVENTS,
  ALL_REVOCATIONS,
  LEDGER_STREAM,
  LEDGER_STREAM_SPEC,
  ledgerSubject,
  ledgerTypeOf,
  REVOCATION_RETENTION_MS,
  REVOCATION_STREAM,
  REVOCATION_STREAM_SPEC,
  revocationSubject,
  TOKEN_OWNER_STREAM,
  TOKEN_OWNER_STREAM_SPEC,
  tokenOwnerSubject,
  configuredStreams,
} from './streams';
export { publishEvent, type CatalogueEvent, type EventPayload, type EventPublisher } from './publisher';
export { CONSENT_ISSUED_SUBJECT, consentIssuedEvent, consentRevokedEvent, consentRevokedEventId, type ConsentIssuedEvent, type ConsentRevokedEvent } from './consent';
export { CONSENT_FUNNEL_SUBJECT, consentFunnelEvent, funnelEventId, type ConsentFunnelEvent } from './funnel';
export { DECISIONS_SUBJECT, introspectionDecisionsEvent, type IntrospectionDecision, type IntrospectionDecisionsEvent } from './introspection';
export {
  KEY_CHANGE_APPLIED_SUBJECT,
  KEY_CHANGE_APPROVED_SUBJECT,
  KEY_CHANGE_REQUESTED_SUBJECT,
  KEY_REVOKED_SUBJECT,
  keyChangeAppliedEvent,
  keyChangeApprovedEvent,
  keyChangeRequestedEvent,
  keyRevokedEvent,
  type KeyChangeAppliedEvent,
  type KeyChangeApprovedEvent,
  type KeyChangeRequestedEvent,
  type KeyRevokedEvent,
} from './keys';
export { tokenOwnerRecord, type TokenOwnerRecord } from './owners';
export { eventIdentity } from './identity';
