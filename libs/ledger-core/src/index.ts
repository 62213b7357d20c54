export { canonicalEntry, chainHash, entryLeaf, findChainBreak, GENESIS_HASH, type LedgerEntry } from './chain';
export { formatCheckpoint, NoteSigner, NoteVerifier, openNote, parseCheckpoint, signNote } from './checkpoint';
export { failVerification, LEDGER_VERIFICATION_CODES, LedgerVerificationError } from './errors';
export { type Hash, leafHash, MerkleTree, verifyConsistency, verifyInclusion } from './merkle';
export {
  type AnchoredPackSummary,
  INCLUSION_SAMPLE,
  PACK_FILES,
  PACK_FORMAT,
  type PackAnchor,
  type PackBoundary,
  type PackCheckpoint,
  type PackManifest,
  verifyPack,
  verifyPackWithAnchors,
} from './pack';
export { certificatesFromPem, MAX_TIMESTAMP_BYTES, timestampRequest, type VerifiedTimestamp, verifyTimestampResponse } from './timestamp';
export { encodeSegmentData, leavesFile, readSegment, SEGMENT_FORMAT, type SegmentEntry, type SegmentManifest, sha256Hex } from './segment';
export type { ByteSource } from './zip';
