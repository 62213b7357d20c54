import { isUtf8 } from 'node:buffer';
import canonicalize from 'canonicalize';
import { failVerification, LedgerVerificationError } from './errors';
import { leafHash, sha256Concat, type Hash } from './merkle';

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
  return Buffer.from(canonicalJson(entry), 'utf8');
}

/**
 * RFC 8785 (JCS) text of a value. For plain JSON data (strings, finite numbers, booleans,
 * null, arrays, objects without integer-like keys) that is JSON.stringify of a copy whose
 * objects hold their keys in code-unit order: JCS writes strings and numbers exactly as
 * JSON.stringify does. That path is native and several times faster than the general
 * serialiser, which the rest (integer-like keys, which objects enumerate first; `__proto__`;
 * toJSON; undefined; NaN, which must throw) still takes.
 */
export function canonicalJson(value: unknown): string {
  const sorted = sortedCopy(value);
  const text = sorted === UNSUPPORTED ? canonicalize(value) : JSON.stringify(sorted);
  if (text === undefined) throw new TypeError('value is not serialisable');
  return text;
}

const UNSUPPORTED = Symbol('unsupported');
const INTEGER_LIKE = /^[0-9]+$/;

function sortedCopy(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : UNSUPPORTED;
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        const out = new Array<unknown>(value.length);
        for (let i = 0; i < value.length; i++) if ((out[i] = sortedCopy(value[i])) === UNSUPPORTED) return UNSUPPORTED;
        return out;
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return UNSUPPORTED;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value).sort()) {
        // Objects enumerate integer-like keys first, whatever the order they were set in; "__proto__" would set the prototype.
        if (INTEGER_LIKE.test(key) || key === '__proto__') return UNSUPPORTED;
        if ((out[key] = sortedCopy((value as Record<string, unknown>)[key])) === UNSUPPORTED) return UNSUPPORTED;
      }
      return out;
    }
    default:
      return UNSUPPORTED;
  }
}

/** entry_hash = SHA-256(prev_hash || canonical entry bytes). */
export function chainHash(prev: Hash, canonical: Buffer): Hash {
  return sha256Concat(prev, canonical);
}

/** The Merkle leaf of an entry: RFC 6962 leaf hash of its canonical bytes. */
export function entryLeaf(canonical: Buffer): Hash {
  return leafHash(canonical);
}

/** One entry to check: its parsed form, its bytes (what was hashed and stored or exported), or both; and the hashes stored for it, if any. */
export interface EntryInput {
  entry?: LedgerEntry;
  canonical?: Buffer;
  entryHash?: Hash;
  leafHash?: Hash;
}

export interface VerifiedEntry {
  entry: LedgerEntry;
  canonical: Buffer;
  entryHash: Hash;
  leafHash: Hash;
}

export interface VerifyEntriesOptions {
  /**
   * false: links and leaves are checked over the stored bytes without re-deriving the
   * canonical form (no JCS serialisation: what a frequent incremental pass can afford;
   * a periodic full pass checks the form). Default true.
   */
  canonicalForm?: boolean;
}

/** Whether every object in a parsed JSON value has its keys in RFC 8785 order (UTF-16 code units, as Array.prototype.sort). */
function keysSorted(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (Array.isArray(value)) return value.every(keysSorted);
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    if ((i > 0 && !(keys[i - 1]! < keys[i]!)) || !keysSorted((value as Record<string, unknown>)[keys[i]!])) return false;
  }
  return true;
}

/**
 * Whether `bytes` (decoded as `text`, parsed as `entry`) are already the entry's RFC 8785
 * form, without canonicalising: they are UTF-8, JSON.stringify writes them back exactly
 * (no whitespace; strings and numbers as JCS writes them, which is JSON.stringify's
 * form) and every object's keys come in code-unit order (so sorting them, as JCS does,
 * changes nothing). false proves nothing (integer-like keys, say, enumerate in numeric
 * order): the caller then canonicalises and compares.
 */
function isCanonicalText(bytes: Buffer, text: string, entry: LedgerEntry): boolean {
  return isUtf8(bytes) && JSON.stringify(entry) === text && keysSorted(entry);
}

/** An entry from its bytes (bad_entry unless they are a JSON object); `seq` names it in the error. */
function parseEntry(bytes: Buffer, seq: number, text = bytes.toString('utf8')): LedgerEntry {
  let entry: unknown;
  try {
    entry = JSON.parse(text);
  } catch {
    return failVerification('bad_entry', `entry ${seq} is not JSON`, { seq });
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) failVerification('bad_entry', `entry ${seq} is not a JSON object`, { seq });
  return entry as LedgerEntry;
}

/** An entry from bytes that must be exactly its canonical form (bad_entry otherwise). */
export function readCanonicalEntry(canonical: Buffer): LedgerEntry {
  const entry = parseEntry(canonical, 0);
  if (!canonicalEntry(entry).equals(canonical)) failVerification('bad_entry', 'the bytes are not the canonical form of the entry');
  return entry;
}

/**
 * The one walk over a run of ledger entries, used wherever a chain is checked
 * (stored entries, compliance packs, sealed segments). From `firstSeq`, chained to
 * `prev`, each entry must: parse (when only bytes are given), be the next seq, be
 * exactly its RFC 8785 canonical bytes, hash to its stored entry_hash (when given)
 * as SHA-256(prev || bytes), and have the RFC 6962 leaf hash stored for it (when
 * given). Yields each entry with the hashes computed for it, so a caller streams;
 * throws LedgerVerificationError (bad_entry, entry_order, broken_chain, bad_leaf)
 * naming the first entry that fails.
 */
export function* verifyEntries(rows: Iterable<EntryInput>, prev: Hash = GENESIS_HASH, firstSeq = 1, options: VerifyEntriesOptions = {}): Generator<VerifiedEntry> {
  let expectedSeq = firstSeq;
  let previous = prev;
  for (const row of rows) {
    // Decoded once: parsed (when no entry is given) and compared with the entry written back.
    const text = row.entry === undefined || options.canonicalForm !== false ? row.canonical?.toString('utf8') : undefined;
    const entry = row.entry ?? parseEntry(row.canonical!, expectedSeq, text);
    if (entry.seq !== expectedSeq) failVerification('entry_order', `expected seq ${expectedSeq}, found ${String(entry.seq)}`, { seq: expectedSeq });
    const stored = row.canonical && (options.canonicalForm === false || isCanonicalText(row.canonical, text!, entry));
    const canonical = stored ? row.canonical! : canonicalEntry(entry);
    // Stored or exported bytes are what was hashed: they must be exactly canonical.
    if (row.canonical && canonical !== row.canonical && !row.canonical.equals(canonical)) failVerification('bad_entry', 'stored bytes are not the canonical form of the entry', { seq: entry.seq });
    const entryHash = chainHash(previous, canonical);
    if (row.entryHash && !entryHash.equals(row.entryHash)) failVerification('broken_chain', 'entry hash does not match SHA-256(prev || entry)', { seq: entry.seq });
    const leafHash = entryLeaf(canonical);
    if (row.leafHash && !leafHash.equals(row.leafHash)) failVerification('bad_leaf', 'Merkle leaf hash does not match the entry', { seq: entry.seq });
    yield { entry, canonical, entryHash, leafHash };
    previous = entryHash;
    expectedSeq++;
  }
}

export interface ChainBreak {
  seq: number;
  reason: string;
}

/** verifyEntries over stored rows, as a verdict: the first break, or null when the run is intact. */
export function findChainBreak(
  rows: Iterable<{ entry: LedgerEntry; canonical?: Buffer; entryHash: Hash; leafHash?: Hash }>,
  prev: Hash = GENESIS_HASH,
  firstSeq = 1,
  options: VerifyEntriesOptions = {},
): ChainBreak | null {
  try {
    for (const _ of verifyEntries(rows, prev, firstSeq, options));
    return null;
  } catch (error) {
    if (error instanceof LedgerVerificationError && error.seq !== undefined) return { seq: error.seq, reason: error.message };
    throw error;
  }
}
