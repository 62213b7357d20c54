import canonicalize from 'canonicalize';
import { contextBinding, contextHash, ContextHashMemo } from './context_hash';
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

  it('memoises per distinct binding with the same answers as contextHash, bounded', () => {
    const memo = new ContextHashMemo(2);
    for (const v of vectors.vectors) {
      expect(memo.hash(v.envelope)).toBe(v.context_hash);
      expect(memo.hash({ ...v.envelope })).toBe(v.context_hash);
    }
    const base = vectors.vectors[0]!.envelope;
    // Same binding, features in another order or repeated: same hash (the canonical form sorts and de-duplicates).
    expect(memo.hash({ ...base, features: [...base.features].reverse().concat(base.features) })).toBe(contextHash(base));
    // A field holding the separator of a naive join cannot collide with a neighbour.
    expect(memo.hash({ ...base, channel: `${base.channel}","x`, processor: base.processor })).toBe(contextHash({ ...base, channel: `${base.channel}","x` }));
    const long = { ...base, ui_copy_id: 'x'.repeat(3000) };
    expect(memo.hash(long)).toBe(contextHash(long));
  });
});
