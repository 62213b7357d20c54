import type { DenyReason } from '@ctp/ctp-core';

/** Why a protected operation was refused: CTP's deny reasons, or no consent token at all. */
export type ConsentDenyCode = DenyReason | 'consent_missing';

const NOT_AGREED = 'You have not agreed to this kind of analysis, so we did not process anything.';
const NOT_CONFIRMED = "We couldn't confirm your consent, so we did not analyse anything. Please give your consent again.";

/**
 * Messages fit to show the person (the guide: a plain message, not the code). Keyed by every
 * code, so a new deny reason in ctp-core does not compile until it has words.
 */
export const DENY_MESSAGES: Record<ConsentDenyCode, string> = {
  consent_missing: 'We need your permission before we analyse this. You can give it in the consent panel.',
  revoked: 'You withdrew your consent, so we did not analyse this. You can give it again at any time.',
  expired: 'Your consent for this session has ended. Please confirm it again to continue.',
  revocation_unavailable: "We can't check your consent right now, so we did not analyse anything. Please try again in a moment.",
  purpose_mismatch: NOT_AGREED,
  scope_insufficient: NOT_AGREED,
  context_mismatch: NOT_AGREED,
  audience_mismatch: NOT_AGREED,
  malformed: NOT_CONFIRMED,
  oversized: NOT_CONFIRMED,
  alg_not_allowed: NOT_CONFIRMED,
  crit_unsupported: NOT_CONFIRMED,
  unknown_kid: NOT_CONFIRMED,
  key_revoked: NOT_CONFIRMED,
  bad_signature: NOT_CONFIRMED,
  invalid_claims: NOT_CONFIRMED,
  issuer_mismatch: NOT_CONFIRMED,
  not_yet_valid: NOT_CONFIRMED,
  lifetime_exceeded: NOT_CONFIRMED,
};
