import canonicalize from 'canonicalize';
import { contextBinding, contextHash } from './context_hash';
import vectors from './__fixtures__/context_hash_vectors.json';

describe('context hash', () => {
  it.each(vectors.vectors.map((v) => [v.name, v] as const))('matches the published vector %s', (_name, vector) => {
    expect(canonicalize(contextBinding(vector.envelope))).toBe(vector.canonical);
    expect(contextHash(vector.envelope)).toBe(vector.context_hash);
  });

  it('changes with every binding field', () => {
    const base = vectors.vectors[0]!.envelope;
    const baseHash = contextHash(base);
    const changes: Record<string, unknown> = {
      channel: 'chat',
      features: ['tone'],
      processor: 'svc://other/v1',
      purpose: 'marketing',
      retention: 'days_30',
      jurisdiction: 'US-CA',
      ui_copy_id: 'consent-modal-2025-11-01#es-US',
    };
    for (const [field, value] of Object.entries(changes)) {
      expect(contextHash({ ...base, [field]: value })).not.toBe(baseHash);
    }
  });
});
