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
  REVOCATION_STREAM,
  REVOCATION_STREAM_SPEC,
  revocationSubject,
  TOKEN_OWNER_STREAM,
  TOKEN_OWNER_STREAM_SPEC,
  tokenOwnerSubject,
  configuredStreams,
} from './streams';
export { publishEvent, type CatalogueEvent, type EventPublisher } from './publisher';
export { consentIssuedEvent, consentRevokedEvent, type ConsentRevokedEvent } from './consent';
export { consentFunnelEvent } from './funnel';
export { introspectionDecisionsEvent, type IntrospectionDecision } from './introspection';
export {
  KEY_REVOKED_SUBJECT,
  keyChangeAppliedEvent,
  keyChangeApprovedEvent,
  keyChangeRequestedEvent,
  keyRevokedEvent,
  type KeyRevokedEvent,
} from './keys';
export { tokenOwnerRecord, type TokenOwnerRecord } from './owners';
export { eventIdentity } from './identity';
export { GUARD_RECEIPT_SUBJECT, guardReceiptEvent, guardReceiptEventId, receiptOfEvent, type GuardReceiptEntryData, type GuardReceiptEvent } from './receipts';
