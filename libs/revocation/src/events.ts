import type { StreamSpec } from '@ctp/bus';
import { REVOCATION_REPLAY_WINDOW_SECONDS } from '@ctp/ctp-core';

export const REVOCATION_STREAM = 'CTP_REVOCATIONS';
/** One subject per partner, so a partner's push channel filters on the server. */
export const revocationSubject = (partnerId: string) => `ctp.revocations.${partnerId}`;
export const ALL_REVOCATIONS = 'ctp.revocations.*';
/** Pull cursors stay valid this long; far beyond any token's 300 s life. */
export const REVOCATION_RETENTION_MS = 24 * 3600 * 1000;
/**
 * A revocation repeated within the replay window (while it can still deny a live token) is stored
 * once, even when the revocation list that normally says "already published" restarted empty.
 */
export const REVOCATION_STREAM_SPEC: StreamSpec = {
  name: REVOCATION_STREAM,
  subjects: [ALL_REVOCATIONS],
  maxAgeMs: REVOCATION_RETENTION_MS,
  duplicateWindowMs: REVOCATION_REPLAY_WINDOW_SECONDS * 1000,
};

/** The `consent.revoked` event, as stored on the bus (the ledger records it too). */
export interface RevocationEvent {
  type: 'consent.revoked';
  jti: string;
  partner_id: string;
  reason: string;
  /** Revocation time on the broadcaster's clock, ms since the epoch. */
  revoked_at_ms: number;
  /** When the revoked token expires anyway (s since the epoch); nothing needs the entry after that. */
  expires_at: number;
}
