import { createHash } from 'node:crypto';
import { EMPTY_ROOT, leafHash, MerkleTree, nodeHash, rootFromRange, splitPoint, verifyConsistency, verifyInclusion, type Hash } from './merkle';

/** Independent RFC 6962 §2.1 MTH, straight from the definition, over leaf hashes. */
function mth(leaves: Hash[]): Hash {
  if (leaves.length === 0) return createHash('sha256').digest();
  if (leaves.length === 1) return leaves[0]!;
  const k = splitPoint(leaves.length);
  return nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

const leaves = Array.from({ length: 70 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
const tree = new MerkleTree();
leaves.forEach((l) => tree.append(l));

describe('RFC 6962 Merkle tree', () => {
  it('hashes leaves and nodes with domain separation', () => {
    expect(EMPTY_ROOT.toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(leafHash(Buffer.alloc(0)).toString('hex')).toBe('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
  });

  it('roots every size exactly as the definition', () => {
    for (let n = 0; n <= leaves.length; n++) expect(tree.root(n).equals(mth(leaves.slice(0, n)))).toBe(true);
  });

  it('answers the same from its cache of right-edge hashes, while the tree grows', () => {
    const growing = new MerkleTree();
    for (let n = 1; n <= leaves.length; n++) {
      growing.append(leaves[n - 1]!);
      // Every earlier size again: those ranges now come from the cache, the newest are computed.
      for (const m of [1, Math.ceil(n / 3), n - 1, n].filter((m) => m >= 1)) {
        expect(growing.root(m).equals(mth(leaves.slice(0, m)))).toBe(true);
        expect(verifyInclusion(m - 1, m, leaves[m - 1]!, growing.inclusionProof(m - 1, m), growing.root(m))).toBe(true);
      }
    }
  });

  it('produces inclusion proofs that RFC 9162 verification accepts, and only for the right leaf', () => {
    for (let n = 1; n <= leaves.length; n += 3) {
      const root = tree.root(n);
      for (let m = 0; m < n; m++) {
        const proof = tree.inclusionProof(m, n);
        expect(verifyInclusion(m, n, leaves[m]!, proof, root)).toBe(true);
        if (n > 1) {
          expect(verifyInclusion((m + 1) % n, n, leaves[m]!, proof, root)).toBe(false);
          expect(verifyInclusion(m, n, leaves[m]!, [...proof, leaves[0]!], root)).toBe(false);
        }
        if (proof.length > 0) expect(verifyInclusion(m, n, leaves[m]!, proof.slice(1), root)).toBe(false);
      }
    }
    expect(verifyInclusion(5, 5, leaves[5]!, [], tree.root(5))).toBe(false);
  });

  it('produces consistency proofs between every pair of sizes, which fail for a forked history', () => {
    const forked = new MerkleTree();
    leaves.forEach((l, i) => forked.append(i === 3 ? leafHash(Buffer.from('forged')) : l));
    for (let m = 1; m <= 40; m++) {
      for (let n = m; n <= leaves.length; n += 7) {
        const proof = tree.consistencyProof(m, n);
        expect(verifyConsistency(m, n, tree.root(m), tree.root(n), proof)).toBe(true);
        if (m < n) {
          if (m > 3) expect(verifyConsistency(m, n, forked.root(m), tree.root(n), proof)).toBe(false);
          expect(verifyConsistency(m, n, tree.root(m), tree.root(n), proof.slice(0, -1))).toBe(false);
          expect(verifyConsistency(m, n, tree.root(m), tree.root(n), [...proof, leaves[0]!])).toBe(false);
        }
      }
    }
    expect(verifyConsistency(4, 4, tree.root(4), tree.root(4), [])).toBe(true);
    expect(verifyConsistency(0, 4, EMPTY_ROOT, tree.root(4), [])).toBe(false);
  });

  it('rebuilds any root from a frontier and the following leaves', () => {
    for (let offset = 0; offset <= 40; offset++) {
      for (let end = offset; end <= leaves.length; end += 5) {
        const { size, root } = rootFromRange(offset, tree.frontier(offset), leaves.slice(offset, end));
        expect(size).toBe(end);
        expect(root.equals(tree.root(end))).toBe(true);
      }
    }
    expect(() => rootFromRange(5, tree.frontier(4), [])).toThrow(/does not cover/);
    expect(rootFromRange(4, tree.frontier(4), [leaves[5]!]).root.equals(tree.root(5))).toBe(false);
  });

  it('refuses proofs outside the tree', () => {
    expect(() => tree.inclusionProof(70, 70)).toThrow(RangeError);
    expect(() => tree.consistencyProof(3, 71)).toThrow(RangeError);
  });
});
