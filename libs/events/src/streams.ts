import type { StreamSpec } from '@ctp/bus';
import { CANONICAL_JTI, REVOCATION_REPLAY_WINDOW_SECONDS } from '@ctp/ctp-core';

const DAY_MS = 24 * 3600 * 1000;

/** Ledger events other than revocations (those stay on the revocation stream, which the ledger writer also reads). */
export const LEDGER_STREAM = 'CTP_LEDGER';
const LEDGER_PREFIX = 'ctp.ledger.';
/** Every subject on the ledger stream: the writer records each as an entry of the type after the prefix. */
export const ALL_LEDGER_EVENTS = `${LEDGER_PREFIX}>`;
export const LEDGER_STREAM_SPEC: StreamSpec = { name: LEDGER_STREAM, subjects: [ALL_LEDGER_EVENTS], maxAgeMs: 7 * DAY_MS };

/** The subject of a ledger event type, e.g. `consent.issued` -> `ctp.ledger.consent.issued`. */
export const ledgerSubject = (type: string) => `${LEDGER_PREFIX}${type}`;
/** The event type a ledger-stream subject names, or undefined for another stream's subject. */
export const ledgerTypeOf = (subject: string): string | undefined => (subject.startsWith(LEDGER_PREFIX) ? subject.slice(LEDGER_PREFIX.length) : undefined);

export const REVOCATION_STREAM = 'CTP_REVOCATIONS';
/** One subject per partner, so a partner's push channel filters on the server. */
export const revocationSubject = (partnerId: string) => `ctp.revocations.${partnerId}`;
export const ALL_REVOCATIONS = 'ctp.revocations.*';
/** Pull cursors stay valid this long; far beyond any token's 300 s life. */
export const REVOCATION_RETENTION_MS = DAY_MS;
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

/**
 * Token owners live on their own JetStream stream, one subject per jti, found again with one
 * direct get by subject. Why there:
 * - Redis is a cache that may restart empty; an owner lost with it let any partner revoke another
 *   partner's live token and put the revocation in the wrong feed. JetStream keeps the stream in
 *   its file store, so ownership survives the loss of Redis (and a restart of NATS).
 * - Not the ledger stream's `consent.issued` event on a per-jti subject: that stream keeps 7 days
 *   (for the ledger writer), and nats-server holds a subject index entry per distinct subject in
 *   memory (measured: about 210 bytes each, so 60 million a week at 100 issues/s is ~12 GB). This
 *   stream keeps each owner only as long as a revocation of the token matters (the replay window,
 *   420 s), so its index stays small: ~90 MB at a sustained 1,000 issues/s.
 * - Not ownership inside the token: /revoke takes only a jti, and a keyed jti would change its
 *   format and need a secret shared by issuer and broadcaster.
 */
export const TOKEN_OWNER_STREAM = 'CTP_TOKEN_OWNERS';
const TOKEN_OWNER_PREFIX = 'ctp.owners.';
export const TOKEN_OWNER_STREAM_SPEC: StreamSpec = { name: TOKEN_OWNER_STREAM, subjects: [`${TOKEN_OWNER_PREFIX}*`], maxAgeMs: REVOCATION_REPLAY_WINDOW_SECONDS * 1000 };

/** One subject per token; only canonical jtis (lowercase UUIDs) are subject tokens, so no jti can inject a wildcard or a dot. */
export function tokenOwnerSubject(jti: string): string {
  if (!CANONICAL_JTI.test(jti)) throw new RangeError('a token owner subject needs a canonical jti (lowercase UUID)');
  return `${TOKEN_OWNER_PREFIX}${jti}`;
}

/** The streams with the deployment's JetStream settings (libs/config natsEnv): replicas, size limit, the ledger stream's age. */
export function configuredStreams(settings: { replicas: number; maxBytes: number; ledgerMaxAgeMs: number }): { ledger: StreamSpec; revocation: StreamSpec; tokenOwner: StreamSpec } {
  const limits = { replicas: settings.replicas, maxBytes: settings.maxBytes };
  return {
    ledger: { ...LEDGER_STREAM_SPEC, ...limits, maxAgeMs: settings.ledgerMaxAgeMs },
    revocation: { ...REVOCATION_STREAM_SPEC, ...limits },
    tokenOwner: { ...TOKEN_OWNER_STREAM_SPEC, ...limits },
  };
}
