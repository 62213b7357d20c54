import { z } from 'zod';
import { contextEnvelopeSchema, ENVELOPE_MAX_LENGTHS as MAX, ENVELOPE_PATTERNS, introspectRequestSchema, issueRequestSchema, JWK_THUMBPRINT, MAX_FEATURES, parseOrThrow, type ContextEnvelope, type IssueRequest } from './envelope';

/**
 * The bodies of the two hot routes (POST /introspect, POST /issue) checked without zod.
 *
 * zod's object parse was about a twentieth of `ctp up`'s main-thread time per cached
 * introspection (BENCHMARKS.md, issue 16). The checks below accept a body only when every
 * rule of the schema holds, with the schema's own patterns and bounds, and then build what
 * zod would return (fields in the schema's order, the features array copied). Anything they
 * do not accept goes to zod, so every refusal is zod's, word for word, and a body they are
 * stricter about than zod is still zod's to accept. envelope_check.spec compares both on
 * generated bodies.
 */

const { slug, processor, jurisdiction, uiCopyId } = ENVELOPE_PATTERNS;
/** zod's own RFC 3339 pattern for `ts` (`z.iso.datetime({ offset: true })`). */
const DATETIME: RegExp = (() => {
  const pattern = (contextEnvelopeSchema.shape.ts as z.ZodISODateTime)._zod.def.pattern;
  if (!(pattern instanceof RegExp) || pattern.global || pattern.sticky) throw new Error('zod no longer exposes the datetime pattern the envelope check needs');
  return pattern;
})();

type Fields = Record<string, unknown>;

const ENVELOPE_KEYS = new Set(Object.keys(contextEnvelopeSchema.shape));
const INTROSPECT_KEYS = new Set(Object.keys(introspectRequestSchema.shape));
const ISSUE_KEYS = new Set(Object.keys(issueRequestSchema.shape));
const KEY_BINDING_KEYS = new Set(['jkt']);

const isRecord = (value: unknown): value is Fields => typeof value === 'object' && value !== null && !Array.isArray(value);
const isSlug = (value: unknown, max: number): value is string => typeof value === 'string' && value.length <= max && slug.test(value);

/**
 * How many keys `value` has, walked as zod's strict check walks them (`for...in`), or -1 when
 * one is not in `known`. All known and as many as `known` holds: exactly those keys.
 */
function knownKeys(value: Fields, known: Set<string>): number {
  let n = 0;
  for (const key in value) {
    if (!known.has(key)) return -1;
    n++;
  }
  return n;
}

function features(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || value.length < 1 || value.length > MAX_FEATURES) return undefined;
  const out = new Array<string>(value.length);
  for (let i = 0; i < value.length; i++) {
    const feature: unknown = value[i];
    if (!isSlug(feature, MAX.feature)) return undefined;
    out[i] = feature;
  }
  return out;
}

/** The envelope's eight fields when each is valid, in the schema's order; undefined otherwise. */
function envelopeFields(body: Fields): ContextEnvelope | undefined {
  const { ts, channel, processor: proc, purpose, retention, jurisdiction: juris, ui_copy_id: copy } = body;
  const list = features(body.features);
  if (
    list === undefined ||
    typeof ts !== 'string' ||
    !DATETIME.test(ts) ||
    !isSlug(channel, MAX.channel) ||
    typeof proc !== 'string' ||
    proc.length > MAX.processor ||
    !processor.test(proc) ||
    !isSlug(purpose, MAX.purpose) ||
    !isSlug(retention, MAX.retention) ||
    typeof juris !== 'string' ||
    !jurisdiction.test(juris) ||
    typeof copy !== 'string' ||
    copy.length < 1 ||
    copy.length > MAX.uiCopyId ||
    !uiCopyId.test(copy)
  ) {
    return undefined;
  }
  return { ts, channel, features: list, processor: proc, purpose, retention, jurisdiction: juris, ui_copy_id: copy };
}

/** An envelope object holding exactly its eight fields, all valid. */
function strictEnvelope(value: unknown): ContextEnvelope | undefined {
  return isRecord(value) && knownKeys(value, ENVELOPE_KEYS) === ENVELOPE_KEYS.size ? envelopeFields(value) : undefined;
}

/** POST /introspect's body when the check accepts it (zod would return the same), else undefined. */
export function checkIntrospectRequest(body: unknown): z.infer<typeof introspectRequestSchema> | undefined {
  if (!isRecord(body) || knownKeys(body, INTROSPECT_KEYS) !== INTROSPECT_KEYS.size || typeof body.token !== 'string') return undefined;
  const envelope = strictEnvelope(body.context_envelope);
  return envelope && { token: body.token, context_envelope: envelope };
}

/** POST /issue's body when the check accepts it (zod would return the same), else undefined. */
export function checkIssueRequest(body: unknown): IssueRequest | undefined {
  if (!isRecord(body)) return undefined;
  const { subject_ref: subjectRef, key_binding: keyBinding } = body;
  const hasSubject = 'subject_ref' in body;
  const hasBinding = 'key_binding' in body;
  // A key present with the value undefined (never so in JSON) is left to zod.
  if (hasSubject && (typeof subjectRef !== 'string' || subjectRef.length < 1 || subjectRef.length > MAX.subjectRef)) return undefined;
  if (hasBinding && !(isRecord(keyBinding) && knownKeys(keyBinding, KEY_BINDING_KEYS) === 1 && typeof keyBinding.jkt === 'string' && JWK_THUMBPRINT.test(keyBinding.jkt))) return undefined;
  if (knownKeys(body, ISSUE_KEYS) !== ENVELOPE_KEYS.size + Number(hasSubject) + Number(hasBinding)) return undefined;
  const request: IssueRequest | undefined = envelopeFields(body);
  if (request === undefined) return undefined;
  if (hasSubject) request.subject_ref = subjectRef as string;
  if (hasBinding) request.key_binding = { jkt: (keyBinding as { jkt: string }).jkt };
  return request;
}

/** POST /introspect's body, as `parseOrThrow(introspectRequestSchema, body)` returns it or throws. */
export function parseIntrospectRequest(body: unknown): z.infer<typeof introspectRequestSchema> {
  return checkIntrospectRequest(body) ?? parseOrThrow(introspectRequestSchema, body);
}

/** POST /issue's body, as `parseOrThrow(issueRequestSchema, body)` returns it or throws. */
export function parseIssueRequest(body: unknown): IssueRequest {
  return checkIssueRequest(body) ?? parseOrThrow(issueRequestSchema, body);
}
