import { CtpError } from './errors';
import { ENVELOPE_MAX_LENGTHS as MAX, introspectRequestSchema, issueRequestSchema, MAX_FEATURES, parseOrThrow } from './envelope';
import { checkIntrospectRequest, checkIssueRequest, parseIntrospectRequest, parseIssueRequest } from './envelope_check';
import vectors from './__fixtures__/context_hash_vectors.json';

const guideEnvelope: Record<string, unknown> = vectors.vectors[0]!.envelope;

// A seeded generator: the same bodies every run.
let state = 7;
const rand = (n: number) => Math.floor((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 16) % n;
const pick = <T>(list: readonly T[]): T => list[rand(list.length)]!;

const MISSING = Symbol('missing');
const anyType = [MISSING, undefined, null, 7, true, [], {}, ['x'], ''];
const slugs = (max: number) => ['tone', 'a', 'a-b_c9', 'A', '9a', 'tone ', 'tôn', 'a'.repeat(max), 'a'.repeat(max + 1), '-a', 'a\n'];
/** Candidate values per field: valid ones, values at each bound, and wrong ones. */
const candidates: Record<string, readonly unknown[]> = {
  ts: [
    '2025-11-09T20:17:00Z', '2025-11-09T20:17:00.123456789+05:30', '2024-02-29T00:00:00Z', '2023-02-29T00:00:00Z', '2100-02-29T00:00:00Z',
    '2000-02-29T23:59:59-00:00', '2025-13-01T00:00:00Z', '2025-04-31T00:00:00Z', '2025-11-09t20:17:00z', '2025-11-09 20:17:00Z',
    '2025-11-09T24:00:00Z', '2025-11-09T20:17:00+24:00', '2025-11-09T20:17:00', '2025-11-09T20:17Z', 'yesterday', '',
  ],
  // Values at each bound and one past it, taken from the limits the schema and the check share.
  channel: slugs(MAX.channel),
  features: [['tone'], ['tone', 'pace'], [], Array.from({ length: MAX_FEATURES }, (_, i) => `f${i}`), Array.from({ length: MAX_FEATURES + 1 }, () => 'f'), ['tone', 'Bad'], ['tone', 7], 'tone', [null], ['a'.repeat(MAX.feature + 1)]],
  processor: ['svc://cx-ai/v1', 'a+b.c-d://x', 'svc://', 'svc:/x', 'Svc://x', 'svc://a b', `svc://${'x'.repeat(MAX.processor - 6)}`, `svc://${'x'.repeat(MAX.processor - 5)}`, 'svc://ü'],
  purpose: slugs(MAX.purpose),
  retention: slugs(MAX.retention),
  jurisdiction: ['US', 'US-KY', 'DE-BY1', 'us', 'USA', 'US-', 'US-ABCD', 'U'],
  ui_copy_id: ['consent-modal-2025-11-01#en-US', 'x', '', 'a b', 'x'.repeat(MAX.uiCopyId), 'x'.repeat(MAX.uiCopyId + 1), 'é'],
};

function mutate(base: Record<string, unknown>, fields: Record<string, readonly unknown[]>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (let changes = rand(3); changes > 0; changes--) {
    const field = pick(Object.keys(fields));
    const value = rand(4) === 0 ? pick(anyType) : pick(fields[field]!);
    if (value === MISSING) delete out[field];
    else out[field] = value;
  }
  if (rand(12) === 0) out[pick(['extra', 'tS', 'constructor'])] = 'x';
  return out;
}

/** Whether `value` is something JSON.parse could have produced (no undefined anywhere), so a check must take it when zod does. */
const isJson = (value: unknown): boolean =>
  value === null || ['string', 'number', 'boolean'].includes(typeof value) || (typeof value === 'object' && Object.values(value as object).every(isJson));

/** What a parse gives: the value as JSON text (so key order counts), or the refusal's problem. */
function outcome(parse: () => unknown): string {
  try {
    return `ok ${JSON.stringify(parse())}`;
  } catch (error) {
    if (!(error instanceof CtpError)) throw error;
    return `refused ${JSON.stringify(error.toProblem())}`;
  }
}

describe('the hot routes\' body checks (envelope_check.ts)', () => {
  it('POST /introspect: accepts only what zod accepts, returns what zod returns, and refuses with zod\'s words', () => {
    let accepted = 0;
    for (let i = 0; i < 6_000; i++) {
      let body: unknown = { token: rand(10) === 0 ? pick(anyType) : 'eyJ.x.y', context_envelope: rand(15) === 0 ? pick(anyType) : mutate(guideEnvelope, candidates) };
      if (rand(20) === 0) body = pick([null, [], 'x', { ...(body as object), extra: 1 }, { token: 't' }]);
      const zod = outcome(() => parseOrThrow(introspectRequestSchema, body));
      const checked = checkIntrospectRequest(body);
      if (checked !== undefined) {
        accepted++;
        expect(`ok ${JSON.stringify(checked)}`).toBe(zod);
      } else if (isJson(body)) {
        // Every JSON body zod takes, the check takes itself: otherwise it saves nothing.
        expect(zod).toMatch(/^refused /);
      }
      expect(outcome(() => parseIntrospectRequest(body))).toBe(zod);
    }
    expect(accepted).toBeGreaterThan(1_000);
  });

  it('POST /issue: the same, with the optional subject_ref and key_binding', () => {
    const issueFields = {
      ...candidates,
      subject_ref: [MISSING, 'user-1', '', 'x'.repeat(MAX.subjectRef), 'x'.repeat(MAX.subjectRef + 1), 7],
      key_binding: [MISSING, { jkt: 'A'.repeat(43) }, { jkt: 'A'.repeat(42) }, { jkt: '+'.repeat(43) }, { jkt: 'A'.repeat(43), x: 1 }, {}, 'jkt', null],
    };
    let accepted = 0;
    let withOptional = 0;
    for (let i = 0; i < 6_000; i++) {
      const base = { ...guideEnvelope, ...pick([{}, { subject_ref: 'user-1' }, { key_binding: { jkt: 'A'.repeat(43) } }, { subject_ref: 'u', key_binding: { jkt: '_'.repeat(43) } }]) };
      const body = rand(30) === 0 ? pick(anyType) : mutate(base, issueFields);
      const zod = outcome(() => parseOrThrow(issueRequestSchema, body));
      const checked = checkIssueRequest(body);
      if (checked !== undefined) {
        accepted++;
        if ('subject_ref' in checked || 'key_binding' in checked) withOptional++;
        expect(`ok ${JSON.stringify(checked)}`).toBe(zod);
      } else if (isJson(body)) {
        expect(zod).toMatch(/^refused /);
      }
      expect(outcome(() => parseIssueRequest(body))).toBe(zod);
    }
    expect(accepted).toBeGreaterThan(1_000);
    expect(withOptional).toBeGreaterThan(500);
  });

  it('leaves a __proto__ key parsed from JSON, or an inherited field, to zod', () => {
    const envelopeJson = JSON.stringify(guideEnvelope);
    const proto = JSON.parse(`{"token":"t","context_envelope":{"__proto__":{"ts":"x"},${envelopeJson.slice(1)}}`);
    expect(checkIntrospectRequest(proto)).toBeUndefined();
    expect(() => parseIntrospectRequest(proto)).toThrow(expect.objectContaining({ errors: [expect.objectContaining({ field: 'context_envelope.__proto__', rule: 'unknown_field' })] }));
    const { ts, ...rest } = guideEnvelope;
    const inherited = Object.assign(Object.create({ ts }), rest);
    expect(outcome(() => parseIntrospectRequest({ token: 't', context_envelope: inherited }))).toBe(outcome(() => parseOrThrow(introspectRequestSchema, { token: 't', context_envelope: inherited })));
  });
});
