import { createHash, hash } from 'node:crypto';
import { failVerification } from './errors';

/** RFC 6962 §2.1 hashes: leaves are prefixed 0x00, interior nodes 0x01 (second-preimage resistance). */
export type Hash = Buffer;

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);
export const EMPTY_ROOT: Hash = createHash('sha256').digest();

/**
 * SHA-256 of `head || data`. Hot: every entry of a verified
 * pack takes a leaf, a chain and (on average) a node hash. Small inputs are laid out
 * in one reused buffer and hashed with one-shot crypto.hash, its digest read back as
 * a binary string: a Hash object per call, or a Buffer result, costs several times
 * the hashing of a ledger entry.
 */
const SCRATCH_BYTES = 64 * 1024;
const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

export function sha256Concat(head: Uint8Array, data: Uint8Array): Hash {
  const n = head.length + data.length;
  if (n > SCRATCH_BYTES) return createHash('sha256').update(head).update(data).digest();
  scratch.set(head, 0);
  scratch.set(data, head.length);
  return Buffer.from(scratchDigest(n), 'binary');
}

/** SHA-256 of the first `n` scratch bytes, as a binary string. */
function scratchDigest(n: number): string {
  return hash('sha256', scratch.subarray(0, n), 'binary');
}

/** nodeHash(buf[at, at + 32), buf[at + 32, at + 64)), written over the left one. */
function nodeHashInto(buf: Buffer, at: number): void {
  scratch[0] = 1;
  buf.copy(scratch, 1, at, at + 64);
  buf.write(scratchDigest(65), at, 32, 'binary');
}

export function leafHash(data: Uint8Array): Hash {
  return sha256Concat(LEAF, data);
}

export function nodeHash(left: Hash, right: Hash): Hash {
  const n = 1 + left.length + right.length;
  if (n > SCRATCH_BYTES) return createHash('sha256').update(NODE).update(left).update(right).digest();
  scratch[0] = 1;
  scratch.set(left, 1);
  scratch.set(right, 1 + left.length);
  return Buffer.from(scratchDigest(n), 'binary');
}

/** Largest power of two strictly smaller than n (n > 1). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * One tree level as 32-byte slots in a single growable buffer: a million-leaf
 * tree is a few dozen heap objects instead of two million, which keeps garbage
 * collection pauses out of proof latency.
 */
class Level {
  private buf = Buffer.alloc(32 * 1024);
  length = 0;

  push(hash: Hash): void {
    if ((this.length + 1) * 32 > this.buf.length) {
      const grown = Buffer.alloc(this.buf.length * 2);
      this.buf.copy(grown);
      this.buf = grown;
    }
    hash.copy(this.buf, this.length * 32);
    this.length++;
  }

  get(i: number): Hash | undefined {
    return i >= 0 && i < this.length ? this.buf.subarray(i * 32, i * 32 + 32) : undefined;
  }
}

/**
 * An append-only Merkle tree over leaf hashes. It keeps every complete ("perfect")
 * subtree hash by level, so a root, inclusion proof or consistency proof for any
 * size costs O(log^2 n) hash operations, not O(n).
 */
const EDGE_CACHE_MAX = 8192;

export class MerkleTree {
  /** levels[h].get(i) = hash of the perfect subtree of 2^h leaves starting at leaf i * 2^h. */
  private readonly levels: Level[] = [new Level()];

  get size(): number {
    return this.levels[0]!.length;
  }

  append(leaf: Hash): void {
    if (leaf.length !== 32) throw new TypeError('a leaf hash is 32 bytes');
    this.levels[0]!.push(leaf);
    let h = 0;
    let i = this.levels[0]!.length - 1;
    while (i % 2 === 1) {
      const level = this.levels[h]!;
      const parent = nodeHash(level.get(i - 1)!, level.get(i)!);
      h++;
      i = (i - 1) / 2;
      (this.levels[h] ??= new Level()).push(parent);
    }
  }

  leaf(index: number): Hash {
    const leaf = this.levels[0]!.get(index);
    if (!leaf) throw new RangeError(`no leaf ${index} in a tree of ${this.size}`);
    return leaf;
  }

  /**
   * Hashes of ranges that are not stored perfect subtrees (the right edge of a tree
   * size: every root and most proof paths need a few), kept because a range's hash
   * never changes in an append-only tree. Bounded; emptied when full.
   */
  private readonly edgeCache = new Map<number, Hash>();

  /** MTH(D[start : start + n]) (RFC 6962 §2.1), using stored perfect subtrees where aligned. */
  private hashRange(start: number, n: number): Hash {
    if (n === 0) return EMPTY_ROOT;
    if ((n & (n - 1)) === 0 && start % n === 0) {
      const h = Math.log2(n);
      const stored = this.levels[h]?.get(start / n);
      if (stored) return stored;
    }
    if (n === 1) return this.leaf(start);
    // One exact number as the key: start < 2^27 and n < 2^26 keep it below 2^53 (larger trees go uncached).
    const cacheable = start < 2 ** 27 && n < 2 ** 26;
    const key = start * 2 ** 26 + n;
    const cached = cacheable ? this.edgeCache.get(key) : undefined;
    if (cached) return cached;
    const k = splitPoint(n);
    const hash = nodeHash(this.hashRange(start, k), this.hashRange(start + k, n - k));
    if (cacheable) {
      if (this.edgeCache.size >= EDGE_CACHE_MAX) this.edgeCache.clear();
      this.edgeCache.set(key, hash);
    }
    return hash;
  }

  root(size = this.size): Hash {
    this.checkSize(size);
    return this.hashRange(0, size);
  }

  /** The perfect-subtree hashes covering leaves [0, size), largest first: a compact range. */
  frontier(size: number): Hash[] {
    this.checkSize(size);
    const out: Hash[] = [];
    for (let start = 0, rest = size; rest > 0; ) {
      let k = 1;
      while (k * 2 <= rest) k *= 2;
      out.push(this.hashRange(start, k));
      start += k;
      rest -= k;
    }
    return out;
  }

  /** PATH(m, D[0:size]) of RFC 6962 §2.1.1. */
  inclusionProof(index: number, size = this.size): Hash[] {
    this.checkSize(size);
    if (index < 0 || index >= size) throw new RangeError(`leaf ${index} is not in a tree of size ${size}`);
    const proof: Hash[] = [];
    const path = (m: number, start: number, n: number): void => {
      if (n === 1) return;
      const k = splitPoint(n);
      if (m < k) {
        path(m, start, k);
        proof.push(this.hashRange(start + k, n - k));
      } else {
        path(m - k, start + k, n - k);
        proof.push(this.hashRange(start, k));
      }
    };
    path(index, 0, size);
    return proof;
  }

  /** PROOF(m, D[0:n]) of RFC 6962 §2.1.2. */
  consistencyProof(first: number, second = this.size): Hash[] {
    this.checkSize(second);
    if (first < 1 || first > second) throw new RangeError(`no consistency proof from ${first} to ${second}`);
    const proof: Hash[] = [];
    const subproof = (m: number, start: number, n: number, complete: boolean): void => {
      if (m === n) {
        if (!complete) proof.push(this.hashRange(start, n));
        return;
      }
      const k = splitPoint(n);
      if (m <= k) {
        subproof(m, start, k, complete);
        proof.push(this.hashRange(start + k, n - k));
      } else {
        subproof(m - k, start + k, n - k, false);
        proof.push(this.hashRange(start, k));
      }
    };
    if (first < second) subproof(first, 0, second, true);
    return proof;
  }

  private checkSize(size: number): void {
    if (!Number.isInteger(size) || size < 0 || size > this.size) throw new RangeError(`tree size ${size} is not in 0..${this.size}`);
  }
}

const lsb = (n: number) => (n & 1) === 1;

/** RFC 9162 §2.1.3.2, exactly: the proof length is implied and checked. */
export function verifyInclusion(index: number, size: number, leaf: Hash, proof: Hash[], root: Hash): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (lsb(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!lsb(fn)) {
        while (!lsb(fn) && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 §2.1.4.2, exactly. */
export function verifyConsistency(first: number, second: number, firstRoot: Hash, secondRoot: Hash, proof: Hash[]): boolean {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 1 || first > second) return false;
  if (first === second) return proof.length === 0 && firstRoot.equals(secondRoot);
  const path = (first & (first - 1)) === 0 ? [firstRoot, ...proof] : proof;
  if (path.length === 0) return false;
  let fn = first - 1;
  let sn = second - 1;
  while (lsb(fn)) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (lsb(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!lsb(fn)) {
        while (!lsb(fn) && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return fr.equals(firstRoot) && sr.equals(secondRoot) && sn === 0;
}

/**
 * MTH(D[0:n]) built incrementally from a compact range: the frontier of the first
 * `offset` leaves (perfect-subtree hashes, largest first, as MerkleTree.frontier gives)
 * followed by the leaves from `offset` on, pushed one at a time. This is how a
 * verifier proves a contiguous run of entries against a signed root without the
 * entries before it, holding O(log n) hashes however long the run.
 */
export class RangeHasher {
  /** Perfect-subtree sizes, largest first, and their hashes: 32 bytes each in `hashes` (at most 64: one per bit of the size). */
  private readonly sizes: number[] = [];
  private readonly hashes = Buffer.alloc(64 * 32);
  size: number;

  constructor(offset: number, frontier: Hash[]) {
    let rest = offset;
    for (const hash of frontier) {
      if (rest === 0) failVerification('bad_frontier', 'frontier has more hashes than its offset needs');
      if (hash.length !== 32) failVerification('bad_frontier', 'a frontier hash is not 32 bytes');
      let k = 1;
      while (k * 2 <= rest) k *= 2;
      this.hashes.set(hash, this.sizes.length * 32);
      this.sizes.push(k);
      rest -= k;
    }
    if (rest !== 0) failVerification('bad_frontier', 'frontier does not cover its offset');
    this.size = offset;
  }

  push(leaf: Hash): void {
    if (leaf.length !== 32) throw new TypeError('a leaf hash is 32 bytes');
    const { sizes, hashes } = this;
    // Merging equal neighbours reads both from `hashes` and writes the parent in place: no allocation per node.
    hashes.set(leaf, sizes.length * 32);
    sizes.push(1);
    this.size++;
    for (let n = sizes.length; n >= 2 && sizes[n - 1] === sizes[n - 2]; n--) {
      sizes.pop();
      sizes[n - 2]! *= 2;
      nodeHashInto(hashes, (n - 2) * 32);
    }
  }

  root(): Hash {
    const n = this.sizes.length;
    if (n === 0) return EMPTY_ROOT;
    let root: Hash = this.hashes.subarray((n - 1) * 32, n * 32);
    for (let i = n - 2; i >= 0; i--) root = nodeHash(this.hashes.subarray(i * 32, i * 32 + 32), root);
    return Buffer.from(root);
  }
}

/** MTH(D[0:n]) from a compact range and the leaves after it (RangeHasher, all at once). */
export function rootFromRange(offset: number, frontier: Hash[], leaves: Iterable<Hash>): { size: number; root: Hash } {
  const range = new RangeHasher(offset, frontier);
  for (const leaf of leaves) range.push(leaf);
  return { size: range.size, root: range.root() };
}
