/**
 * What `<ctp-consent>` shows and a partner backend reports at GET `endpoint`: no decision yet,
 * consent given, declined, withdrawn, or ended with the session.
 */
export const CONSENT_STATES = ['none', 'granted', 'declined', 'revoked', 'expired'] as const;
export type ConsentState = (typeof CONSENT_STATES)[number];
