import { z } from 'zod';
import { CtpError, type FieldError } from './errors';

/** The envelope's string patterns and longest lengths, shared by the schemas below and the hot routes' check (envelope_check.ts). */
export const ENVELOPE_PATTERNS = {
  slug: /^[a-z][a-z0-9_-]*$/,
  processor: /^[a-z][a-z0-9+.-]*:\/\/[\x21-\x7e]+$/,
  jurisdiction: /^[A-Z]{2}(-[A-Z0-9]{1,3})?$/,
  uiCopyId: /^[\x21-\x7e]+$/,
} as const;
export const ENVELOPE_MAX_LENGTHS = { channel: 32, feature: 32, processor: 256, purpose: 64, retention: 64, uiCopyId: 128, subjectRef: 256 } as const;

const slug = (max: number) => z.string().max(max).regex(ENVELOPE_PATTERNS.slug, 'lowercase letters, digits, "_" or "-", starting with a letter');

export const MAX_FEATURES = 32;

/**
 * ContextEnvelope (integration guide §2). Unknown fields are rejected rather than
 * ignored: a misspelt binding field would otherwise silently drop out of the
 * context hash and bind the token to less than the partner meant.
 */
export const contextEnvelopeSchema = z.strictObject({
  ts: z.iso.datetime({ offset: true, message: 'an RFC 3339 date-time, e.g. 2025-11-09T20:17:00Z' }),
  channel: slug(ENVELOPE_MAX_LENGTHS.channel),
  features: z.array(slug(ENVELOPE_MAX_LENGTHS.feature)).min(1).max(MAX_FEATURES),
  processor: z
    .string()
    .max(ENVELOPE_MAX_LENGTHS.processor)
    .regex(ENVELOPE_PATTERNS.processor, 'a URI such as svc://cx-ai/v1 (scheme://, no spaces)'),
  purpose: slug(ENVELOPE_MAX_LENGTHS.purpose),
  retention: slug(ENVELOPE_MAX_LENGTHS.retention),
  jurisdiction: z
    .string()
    .regex(ENVELOPE_PATTERNS.jurisdiction, 'an ISO 3166-1 alpha-2 country, optionally with an ISO 3166-2 subdivision, e.g. US-KY'),
  ui_copy_id: z
    .string()
    .min(1)
    .max(ENVELOPE_MAX_LENGTHS.uiCopyId)
    .regex(ENVELOPE_PATTERNS.uiCopyId, 'printable ASCII without spaces, e.g. consent-modal-2025-11-01#en-US'),
});

export type ContextEnvelope = z.infer<typeof contextEnvelopeSchema>;

/** RFC 7638 JWK thumbprint (sha-256, base64url, 43 characters). */
export const JWK_THUMBPRINT = /^[A-Za-z0-9_-]{43}$/;

/**
 * POST /issue body: the envelope plus an optional subject reference that is not hashed, and an optional
 * key binding (RFC 7800 `cnf.jkt`): the thumbprint of the request-signing key the token may be presented with.
 */
export const issueRequestSchema = contextEnvelopeSchema.extend({
  subject_ref: z.string().min(1).max(ENVELOPE_MAX_LENGTHS.subjectRef).optional(),
  key_binding: z.strictObject({ jkt: z.string().regex(JWK_THUMBPRINT) }).optional(),
});
export type IssueRequest = z.infer<typeof issueRequestSchema>;

/** POST /introspect body. The token's size is judged by the verifier (reason `oversized`). */
export const introspectRequestSchema = z.strictObject({
  token: z.string(),
  context_envelope: contextEnvelopeSchema,
});

/** POST /revoke body. The jti is taken in any letter case and normalised to the canonical lowercase one. */
export const revokeRequestSchema = z.strictObject({
  jti: z.uuid({ message: 'a UUID such as c0b3e1f8-4567-4890-abcd-1234567890ab' }).transform((jti) => jti.toLowerCase()),
  reason: slug(64).optional(),
});

/** What a person did with a consent dialog; the funnel's steps (brief §3: consent rate, revocation rate). */
export const FUNNEL_OUTCOMES = ['shown', 'agreed', 'declined', 'revoked'] as const;
export type FunnelOutcome = (typeof FUNNEL_OUTCOMES)[number];

/**
 * POST /funnel-events body: one consent-dialog outcome, relayed by the partner backend. Only
 * the consent's context and the outcome, never a person: no subject, token, jti or address.
 * `event_id` (the partner's, optional) makes a retried call count once.
 */
export const funnelEventRequestSchema = z.strictObject({
  event_id: z.uuid({ message: 'a UUID such as c0b3e1f8-4567-4890-abcd-1234567890ab' }).optional(),
  outcome: z.enum(FUNNEL_OUTCOMES),
  purpose: contextEnvelopeSchema.shape.purpose,
  features: contextEnvelopeSchema.shape.features,
  ui_copy_id: contextEnvelopeSchema.shape.ui_copy_id,
  jurisdiction: contextEnvelopeSchema.shape.jurisdiction,
  at: contextEnvelopeSchema.shape.ts,
});

function ruleOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'required' : `type:${issue.expected}`;
    case 'too_big':
      return `max:${String(issue.maximum)}`;
    case 'too_small':
      return `min:${String(issue.minimum)}`;
    case 'unrecognized_keys':
      return 'unknown_field';
    case 'invalid_format':
      return issue.format === 'regex' ? 'pattern' : `format:${issue.format}`;
    default:
      return issue.code;
  }
}

function pathOf(path: PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

/** Turns a zod error into one FieldError per offending field (unknown keys: one each). */
export function fieldErrors(error: z.ZodError): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ field: pathOf([...issue.path, key]), rule: 'unknown_field', message: 'is not a field of this object' });
      }
      continue;
    }
    const rule = ruleOf(issue);
    out.push({ field: pathOf(issue.path) || '(body)', rule, message: rule === 'required' ? 'is required' : issue.message });
  }
  return out;
}

/** Parses `input` with `schema` or throws a `validation_failed` CtpError naming every bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  // reportInput lets a missing field (input undefined) be told from a wrongly typed one.
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  const errors = fieldErrors(result.error);
  const first = errors[0];
  const detail = first ? `${first.field}: ${first.message} (rule ${first.rule})` : 'invalid request body';
  throw new CtpError('validation_failed', detail, { errors });
}
