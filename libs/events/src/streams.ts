import type { StreamSpec } from '@ctp/bus';

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
export const REVOCATION_STREAM_SPEC: StreamSpec = { name: REVOCATION_STREAM, subjects: [ALL_REVOCATIONS], maxAgeMs: REVOCATION_RETENTION_MS };
