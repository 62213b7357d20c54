import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { leafHash, type Hash } from './merkle';

/** The hash the first entry chains to. */
export const GENESIS_HASH: Hash = Buffer.alloc(32);

/** One ledger entry as stored and exported. `data` never holds raw personal data. */
export interface LedgerEntry {
  seq: number;
  type: string;
  /** Server time the entry was appended (RFC 3339). */
  recorded_at: string;
  /** Id of the event that produced it, so a redelivered event is recognised (exactly once). */
  event_id: string;
  data: Record<string, unknown>;
}

/** RFC 8785 canonical JSON bytes of an entry: what is chained, Merkle-hashed and exported. */
export function canonicalEntry(entry: LedgerEntry): Buffer {
  const text = canonicalize(entry);
  if (text === undefined) throw new TypeError('entry is not serialisable');
  return Buffer.from(text, 'utf8');
}

/** entry_hash = SHA-256(prev_hash || canonical entry bytes). */
export function chainHash(prev: Hash, canonical: Buffer): Hash {
  return createHash('sha256').update(prev).update(canonical).digest();
}

/** The Merkle leaf of an entry: RFC 6962 leaf hash of its canonical bytes. */
export function entryLeaf(canonical: Buffer): Hash {
  return leafHash(canonical);
}

export interface ChainBreak {
  seq: number;
  reason: string;
}

/**
 * Checks that entries are gap-free from `firstSeq`, that stored bytes (when given)
 * are exactly canonical, that each stored hash is
 * SHA-256(previous hash || canonical bytes) and, when given, that each Merkle leaf
 * hash is the leaf hash of the canonical bytes. Returns the first break, or null.
 * With `canonicalForm: false` and stored bytes, the links and leaves are checked over
 * the stored bytes without re-deriving the canonical form (no JCS serialisation:
 * what a frequent incremental pass can afford; a periodic full pass checks the form).
 */
export function findChainBreak(
  rows: Iterable<{ entry: LedgerEntry; canonical?: Buffer; entryHash: Hash; leafHash?: Hash }>,
  prev: Hash = GENESIS_HASH,
  firstSeq = 1,
  options: { canonicalForm?: boolean } = {},
): ChainBreak | null {
  let expectedSeq = firstSeq;
  let previous = prev;
  for (const row of rows) {
    const { entry, entryHash, leafHash } = row;
    if (entry.seq !== expectedSeq) return { seq: expectedSeq, reason: `expected seq ${expectedSeq}, found ${entry.seq}` };
    const canonical = row.canonical && options.canonicalForm === false ? row.canonical : canonicalEntry(entry);
    // Stored or exported bytes are what was hashed: they must be exactly canonical.
    if (row.canonical && !row.canonical.equals(canonical)) return { seq: entry.seq, reason: 'stored bytes are not the canonical form of the entry' };
    if (!chainHash(previous, canonical).equals(entryHash)) return { seq: entry.seq, reason: 'entry hash does not match SHA-256(prev || entry)' };
    if (leafHash && !entryLeaf(canonical).equals(leafHash)) return { seq: entry.seq, reason: 'Merkle leaf hash does not match the entry' };
    previous = entryHash;
    expectedSeq++;
  }
  return null;
}
