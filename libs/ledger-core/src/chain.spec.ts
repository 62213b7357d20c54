import canonicalize from 'canonicalize';
import { canonicalEntry, canonicalJson, chainHash, entryLeaf, findChainBreak, GENESIS_HASH, type LedgerEntry } from './chain';

function build(n: number) {
  let prev = GENESIS_HASH;
  return Array.from({ length: n }, (_, i) => {
    const entry: LedgerEntry = { seq: i + 1, type: 'consent.issued', recorded_at: '2026-11-23T00:00:00.000Z', event_id: `e${i}`, data: { jti: `j${i}`, b: 1, a: 2 } };
    prev = chainHash(prev, canonicalEntry(entry));
    return { entry, entryHash: prev };
  });
}

describe('hash chain', () => {
  it('canonicalises entries (RFC 8785: sorted keys, no whitespace)', () => {
    expect(canonicalEntry(build(1)[0]!.entry).toString()).toBe(
      '{"data":{"a":2,"b":1,"jti":"j0"},"event_id":"e0","recorded_at":"2026-11-23T00:00:00.000Z","seq":1,"type":"consent.issued"}',
    );
  });

  it('writes exactly what the general RFC 8785 serialiser writes, on its fast path and off it', () => {
    // A seeded generator: the same values every run.
    let state = 42;
    const rand = (n: number) => ((state = (state * 1103515245 + 12345) % 2 ** 31) % n);
    const keys = ['a', 'b', 'B', 'é', '😀', '\u0000', 'a b', '__proto__', 'constructor', '10', '9', 'ab', 'aB'];
    const strings = ['', 'x', '"q"', '\\', '\n\t', '\u2028', '\ud800', 'é😀', '</script>'];
    const numbers = [0, -0, 1, -1, 1.5, 1e21, 1e-7, 5e-324, 2 ** 53, 123456789.125, -3.14159];
    const value = (depth: number): unknown => {
      const pick = rand(depth > 3 ? 4 : 6);
      if (pick === 0) return strings[rand(strings.length)];
      if (pick === 1) return numbers[rand(numbers.length)];
      if (pick === 2) return [true, false, null][rand(3)];
      if (pick === 3) return null;
      if (pick === 4) return Array.from({ length: rand(4) }, () => value(depth + 1));
      const object: Record<string, unknown> = {};
      for (let i = rand(5); i > 0; i--) Object.defineProperty(object, keys[rand(keys.length)]!, { value: value(depth + 1), enumerable: true, configurable: true, writable: true });
      return object;
    };
    let fast = 0;
    for (let i = 0; i < 5_000; i++) {
      const v = value(0);
      expect(canonicalJson(v)).toBe(canonicalize(v));
      if (!/"[0-9]+":/.test(canonicalize(v) ?? '')) fast++;
    }
    expect(fast).toBeGreaterThan(1_000);
    for (const v of [{ at: new Date(0) }, { n: undefined, m: 1 }, [undefined, 1]]) expect(canonicalJson(v)).toBe(canonicalize(v));
    expect(() => canonicalJson({ n: Number.NaN })).toThrow('NaN is not allowed');
    expect(() => canonicalJson([Infinity])).toThrow('Infinity is not allowed');
  });

  it('verifies an intact chain and names the first break', () => {
    const rows = build(10);
    expect(findChainBreak(rows)).toBeNull();
    const tampered = rows.map((r) => (r.entry.seq === 4 ? { ...r, entry: { ...r.entry, data: { ...r.entry.data, jti: 'x' } } } : r));
    expect(findChainBreak(tampered)).toEqual({ seq: 4, reason: expect.stringContaining('does not match') });
    expect(findChainBreak(rows.filter((r) => r.entry.seq !== 6))).toEqual({ seq: 6, reason: 'expected seq 6, found 7' });
    expect(findChainBreak([rows[1]!, rows[0]!])).toEqual({ seq: 1, reason: 'expected seq 1, found 2' });
    const leaves = rows.map((r) => ({ ...r, leafHash: entryLeaf(canonicalEntry(r.entry)) }));
    expect(findChainBreak(leaves)).toBeNull();
    expect(findChainBreak([{ ...rows[0]!, canonical: Buffer.from(canonicalEntry(rows[0]!.entry).toString().replace(':', ': ')) }])).toEqual({
      seq: 1,
      reason: 'stored bytes are not the canonical form of the entry',
    });
    leaves[2] = { ...leaves[2]!, leafHash: Buffer.alloc(32) };
    expect(findChainBreak(leaves)).toEqual({ seq: 3, reason: 'Merkle leaf hash does not match the entry' });
  });

  it('without the canonical-form check, still checks every link and leaf over the stored bytes', () => {
    const stored = build(5).map((r) => {
      const canonical = canonicalEntry(r.entry);
      return { ...r, canonical, leafHash: entryLeaf(canonical) };
    });
    const fast = { canonicalForm: false };
    expect(findChainBreak(stored, GENESIS_HASH, 1, fast)).toBeNull();
    // Bytes changed without re-hashing: the link breaks either way.
    const flipped = stored.map((r) => (r.entry.seq === 3 ? { ...r, canonical: Buffer.from(r.canonical.toString().replace('j2', 'j9')) } : r));
    expect(findChainBreak(flipped, GENESIS_HASH, 1, fast)).toEqual({ seq: 3, reason: expect.stringContaining('does not match') });
    // Non-canonical bytes hashed consistently: only the full check (the default) sees it.
    const spaced = Buffer.from(stored[0]!.canonical.toString().replace(':', ': '));
    const consistent = [{ ...stored[0]!, canonical: spaced, entryHash: chainHash(GENESIS_HASH, spaced), leafHash: entryLeaf(spaced) }];
    expect(findChainBreak(consistent, GENESIS_HASH, 1, fast)).toBeNull();
    expect(findChainBreak(consistent)).toEqual({ seq: 1, reason: 'stored bytes are not the canonical form of the entry' });
  });
});
