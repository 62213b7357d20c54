import { contextEnvelopeSchema, contextHash, parseOrThrow, type ContextEnvelope } from '@ctp/ctp-core';

/** Frozen envelopes this process has validated, with their context hash. */
const memo = new WeakMap<ContextEnvelope, string>();

/**
 * Validates an envelope (the rules of POST /issue and /introspect; a bad one throws a
 * `validation_failed` CtpError naming the field) and returns a deeply frozen copy. Verifiers
 * remember the context hash of frozen envelopes, so reusing one envelope object for every
 * check of an operation costs no hashing; a frozen envelope cannot change under that memo.
 */
export function consentEnvelope(fields: ContextEnvelope): Readonly<ContextEnvelope> {
  const envelope = parseOrThrow(contextEnvelopeSchema, fields);
  Object.freeze(envelope.features);
  Object.freeze(envelope);
  memo.set(envelope, contextHash(envelope));
  return envelope;
}

/**
 * The context hash of a validated envelope: memoised for envelopes from consentEnvelope(),
 * otherwise validated and computed on every call.
 */
export function envelopeHashOf(envelope: ContextEnvelope): string {
  const known = memo.get(envelope);
  if (known !== undefined) return known;
  return contextHash(parseOrThrow(contextEnvelopeSchema, envelope));
}
