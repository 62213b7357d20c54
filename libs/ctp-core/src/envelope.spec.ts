import { CtpError } from './errors';
import { contextEnvelopeSchema, introspectRequestSchema, issueRequestSchema, parseOrThrow, revokeRequestSchema } from './envelope';
import vectors from './__fixtures__/context_hash_vectors.json';

const guideEnvelope = vectors.vectors[0]!.envelope;

function errorsOf(input: unknown) {
  try {
    parseOrThrow(contextEnvelopeSchema, input);
  } catch (e) {
    expect(e).toBeInstanceOf(CtpError);
    return (e as CtpError).errors ?? [];
  }
  throw new Error('expected a validation error');
}

describe('ContextEnvelope schema', () => {
  it('accepts the integration guide example', () => {
    expect(parseOrThrow(contextEnvelopeSchema, guideEnvelope)).toEqual(guideEnvelope);
  });

  it('names a missing field as required', () => {
    const { purpose: _omitted, ...rest } = guideEnvelope;
    expect(errorsOf(rest)).toEqual([expect.objectContaining({ field: 'purpose', rule: 'required' })]);
  });

  it('rejects unknown fields, one error per field', () => {
    const errors = errorsOf({ ...guideEnvelope, purpouse: 'x', extra: 1 });
    expect(errors.map((e) => [e.field, e.rule])).toEqual([
      ['purpouse', 'unknown_field'],
      ['extra', 'unknown_field'],
    ]);
  });

  it('rejects a __proto__ key parsed from JSON as an unknown field', () => {
    const input = JSON.parse(`{"__proto__": {"admin": true}, ${JSON.stringify(guideEnvelope).slice(1)}`);
    expect(errorsOf(input)).toEqual([expect.objectContaining({ field: '__proto__', rule: 'unknown_field' })]);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('names wrong types, bad patterns and array bounds with their index', () => {
    const errors = errorsOf({ ...guideEnvelope, channel: 7, jurisdiction: 'Kentucky', features: ['tone', 'Bad Feature'] });
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'channel', rule: 'type:string' }),
        expect.objectContaining({ field: 'jurisdiction', rule: 'pattern' }),
        expect.objectContaining({ field: 'features[1]', rule: 'pattern' }),
      ]),
    );
    expect(errorsOf({ ...guideEnvelope, features: Array.from({ length: 1000 }, () => 'tone') })).toEqual([
      expect.objectContaining({ field: 'features', rule: 'max:32' }),
    ]);
    expect(errorsOf({ ...guideEnvelope, features: [] })).toEqual([expect.objectContaining({ field: 'features', rule: 'min:1' })]);
  });

  it('requires an RFC 3339 ts', () => {
    expect(errorsOf({ ...guideEnvelope, ts: 'yesterday' })).toEqual([
      expect.objectContaining({ field: 'ts', rule: 'format:datetime' }),
    ]);
  });

  it('takes subject_ref on /issue only, outside the envelope', () => {
    expect(parseOrThrow(issueRequestSchema, { ...guideEnvelope, subject_ref: 'user-42' }).subject_ref).toBe('user-42');
    expect(() => parseOrThrow(introspectRequestSchema, { token: 't', context_envelope: { ...guideEnvelope, subject_ref: 'x' } })).toThrow(
      /context_envelope.subject_ref/,
    );
  });

  it('requires a UUID jti on /revoke', () => {
    expect(parseOrThrow(revokeRequestSchema, { jti: 'c0b3e1f8-4567-4890-abcd-1234567890ab', reason: 'user_revoked' })).toBeTruthy();
    expect(parseOrThrow(revokeRequestSchema, { jti: 'C0B3E1F8-4567-4890-ABCD-1234567890AB' }).jti).toBe('c0b3e1f8-4567-4890-abcd-1234567890ab');
    expect(() => parseOrThrow(revokeRequestSchema, { jti: '../../etc/passwd' })).toThrow(/jti/);
  });
});
