import type { ConsentState } from '../consent_state';

/** Plain-language copy of the consent dialog in one language, keyed by `ui_copy_id`. */
export interface ConsentCopy {
  /** BCP 47 language of the copy (the dialog's `lang`). */
  lang: string;
  heading: string;
  /** The sentence shown; `{features}` and `{purpose}` are replaced by the plain names, in bold. */
  body: string;
  /** Plain names of purposes and features; an unknown one is shown as its slug. */
  purposes: Record<string, string>;
  features: Record<string, string>;
  /** Joins the last two features ("tone and sentiment"). */
  and: string;
  agree: string;
  decline: string;
  revoke: string;
  /** What the dialog says in each state (also announced to screen readers when it changes). */
  states: Record<ConsentState, string>;
  error: string;
}

/**
 * The guide's suggested copy (spec 002 §3A) in English, and German. Partners add their own with
 * CtpConsentElement.defineCopy(); the ui_copy_id of the copy shown goes into the envelope, so a
 * token is bound to the words the person read.
 */
export const DEFAULT_COPY: Record<string, ConsentCopy> = {
  'consent-modal-2025-11-01#en-US': {
    lang: 'en-US',
    heading: 'May we analyse this call?',
    body: 'With your permission, we will analyze {features} in this call for {purpose}. Your consent lasts for this session and can be revoked anytime.',
    purposes: { customer_retention: 'customer support quality' },
    features: { tone: 'tone', sentiment: 'sentiment' },
    and: 'and',
    agree: 'Agree',
    decline: 'Decline',
    revoke: 'Revoke consent',
    states: {
      none: 'You have not decided yet. Nothing is analysed until you agree.',
      granted: 'Consent given. You can revoke it at any time, as easily as you gave it.',
      declined: 'You declined. Nothing is analysed. You can change your mind at any time.',
      revoked: 'Consent revoked. Nothing more is analysed. You can agree again at any time.',
      expired: 'Your consent has ended with this session. Agree again to continue.',
    },
    error: 'That did not work. Nothing was changed. Please try again.',
  },
  'consent-modal-2025-11-01#de-DE': {
    lang: 'de-DE',
    heading: 'Dürfen wir dieses Gespräch auswerten?',
    body: 'Mit Ihrer Erlaubnis werten wir {features} in diesem Gespräch aus, um {purpose}. Ihre Einwilligung gilt für diese Sitzung und kann jederzeit widerrufen werden.',
    purposes: { customer_retention: 'die Qualität unseres Kundenservice zu verbessern' },
    features: { tone: 'den Tonfall', sentiment: 'die Stimmung' },
    and: 'und',
    agree: 'Zustimmen',
    decline: 'Ablehnen',
    revoke: 'Einwilligung widerrufen',
    states: {
      none: 'Sie haben noch nicht entschieden. Nichts wird ausgewertet, bevor Sie zustimmen.',
      granted: 'Einwilligung erteilt. Sie können sie jederzeit widerrufen, so einfach, wie Sie sie erteilt haben.',
      declined: 'Sie haben abgelehnt. Nichts wird ausgewertet. Sie können es sich jederzeit anders überlegen.',
      revoked: 'Einwilligung widerrufen. Nichts wird mehr ausgewertet. Sie können jederzeit erneut zustimmen.',
      expired: 'Ihre Einwilligung ist mit dieser Sitzung abgelaufen. Stimmen Sie erneut zu, um fortzufahren.',
    },
    error: 'Das hat nicht geklappt. Nichts wurde geändert. Bitte versuchen Sie es erneut.',
  },
};
