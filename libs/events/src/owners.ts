import { tokenOwnerSubject } from './streams';

/**
 * Which partner a token was issued to, stored on the token's own subject. It is a record looked
 * up by subject (the last one stored wins), not an event consumers read in order, so it carries
 * no event_id: a repeat is harmless, and a deduplication id would cost the server one more entry
 * per token issued.
 */
export interface TokenOwnerRecord {
  partner_id: string;
  /** When the token expires anyway (s since the epoch). */
  expires_at: number;
}

/** The owner record of a jti and the subject it is stored on. */
export function tokenOwnerRecord(jti: string, fields: TokenOwnerRecord): { subject: string; data: TokenOwnerRecord } {
  return { subject: tokenOwnerSubject(jti), data: { partner_id: fields.partner_id, expires_at: fields.expires_at } };
}
