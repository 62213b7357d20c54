import { contextHash, CtpError, type ContextEnvelope } from '@ctp/ctp-core';
import { GUIDE_ENVELOPE } from '@ctp/testing';
import { consentEnvelope, envelopeHashOf } from './envelope';

describe('consent envelopes', () => {
  const fields = (): ContextEnvelope => ({ ...GUIDE_ENVELOPE, features: [...GUIDE_ENVELOPE.features] });

  it('validates and deeply freezes, so the memoised hash cannot go stale', () => {
    const envelope = consentEnvelope(fields());
    expect(Object.isFrozen(envelope) && Object.isFrozen(envelope.features)).toBe(true);
    expect(envelopeHashOf(envelope)).toBe('090e612392f84f6d9ac266a59f595eef3f9e3d2c1bb992a989e8e658301d370f');
    expect(() => (envelope.features as string[]).push('stress')).toThrow(TypeError);
  });

  it('hashes a plain envelope on every call, and refuses an invalid one with the field named', () => {
    const plain = fields();
    expect(envelopeHashOf(plain)).toBe(contextHash(plain));
    plain.purpose = 'quality_assurance';
    expect(envelopeHashOf(plain)).toBe('85bea99aa45418800278632644969f21dabcd162081443f25125b7a0a5f9f21e');
    expect(() => envelopeHashOf({ ...plain, channel: 'Voice!' })).toThrow(CtpError);
    expect(() => consentEnvelope({ ...plain, extra: 1 } as never)).toThrow(/unknown_field/);
  });
});
