import type { CatalogueEvent } from './publisher';
import { ledgerSubject } from './streams';

/** The signed approval an operator gave a key change (dual control), as recorded. */
interface KeyChangeStep {
  change_id: string;
  /** `rotate` or `revoke` (KEY_CHANGE_ACTIONS of @ctp/keys). */
  action: string;
  kid: string;
  expires_at: number;
  operator: string;
  signature: string;
}

export interface KeyChangeRequestedEvent extends KeyChangeStep {
  event_id: string;
  type: 'key.change.requested';
  required_approvals: number;
}

export interface KeyChangeApprovedEvent extends KeyChangeStep {
  event_id: string;
  type: 'key.change.approved';
}

export interface KeyChangeAppliedEvent {
  event_id: string;
  type: 'key.change.applied';
  change_id: string;
  action: string;
  kid: string;
  new_kid: string | null | undefined;
  approved_by: string[];
}

/** Emergency revocation of a signing key: introspectors follow this subject and deny the kid's tokens at once. */
export interface KeyRevokedEvent {
  event_id: string;
  type: 'key.revoked';
  kid: string;
  change_id: string;
  revoked_at_ms: number;
  replacement_kid: string | null;
}

export const KEY_CHANGE_REQUESTED_SUBJECT = ledgerSubject('key.change.requested');
export const KEY_CHANGE_APPROVED_SUBJECT = ledgerSubject('key.change.approved');
export const KEY_CHANGE_APPLIED_SUBJECT = ledgerSubject('key.change.applied');
export const KEY_REVOKED_SUBJECT = ledgerSubject('key.revoked');

export function keyChangeRequestedEvent(fields: Omit<KeyChangeRequestedEvent, 'event_id' | 'type'>): CatalogueEvent<KeyChangeRequestedEvent> {
  return { subject: KEY_CHANGE_REQUESTED_SUBJECT, data: { event_id: `key.change.requested:${fields.change_id}`, type: 'key.change.requested', ...fields } };
}

/** One approval per operator and change. */
export function keyChangeApprovedEvent(fields: Omit<KeyChangeApprovedEvent, 'event_id' | 'type'>): CatalogueEvent<KeyChangeApprovedEvent> {
  return { subject: KEY_CHANGE_APPROVED_SUBJECT, data: { event_id: `key.change.approved:${fields.change_id}:${fields.operator}`, type: 'key.change.approved', ...fields } };
}

export function keyChangeAppliedEvent(fields: Omit<KeyChangeAppliedEvent, 'event_id' | 'type'>): CatalogueEvent<KeyChangeAppliedEvent> {
  return { subject: KEY_CHANGE_APPLIED_SUBJECT, data: { event_id: `key.change.applied:${fields.change_id}`, type: 'key.change.applied', ...fields } };
}

/** One id per kid: a key is revoked once. */
export function keyRevokedEvent(fields: Omit<KeyRevokedEvent, 'event_id' | 'type'>): CatalogueEvent<KeyRevokedEvent> {
  return { subject: KEY_REVOKED_SUBJECT, data: { event_id: `key.revoked:${fields.kid}`, type: 'key.revoked', ...fields } };
}
