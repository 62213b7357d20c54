import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'fflate';
import { verifyEntries, type VerifiedEntry } from './chain';
import { openNote, parseCheckpoint, type NoteVerifier } from './checkpoint';
import { failVerification } from './errors';
import { rootFromRange, verifyConsistency, type Hash } from './merkle';

/**
 * A sealed ledger segment: a contiguous seq range of entries that left the hot
 * tier, stored as gzip-compressed JSON lines of the exact canonical bytes that were
 * hashed, next to a manifest that makes it verifiable offline, with nothing but the
 * checkpoint verifier keys: the hash chain from `prev_entry_hash` to
 * `last_entry_hash`, and the Merkle root over [1, last_seq] (from `frontier` plus
 * the segment's leaves) proven consistent with a signed checkpoint. Moving a
 * segment between tiers may change its compression, never an entry byte.
 */
export const SEGMENT_FORMAT = 'ctp-ledger-segment/1';

export type SegmentTier = 'warm' | 'cold';

export interface SegmentManifest {
  format: typeof SEGMENT_FORMAT;
  origin: string;
  /** Segment name (file names without extension), e.g. ledger_entries_p202608.0000. */
  name: string;
  /** The hot partition (month) the entries came from, e.g. ledger_entries_p202608. */
  partition: string;
  tier: SegmentTier;
  /** Server-time bounds of the partition [from, to). */
  range: { from: string; to: string };
  first_seq: number;
  last_seq: number;
  count: number;
  /** entry_hash of entry first_seq - 1 (zeros before entry 1) and of last_seq, base64. */
  prev_entry_hash: string;
  last_entry_hash: string;
  /** Perfect-subtree hashes of the first first_seq - 1 leaves (a compact range), base64. */
  frontier: string[];
  /** A signed checkpoint (C2SP signed note) whose size is at least last_seq... */
  checkpoint: { size: number; note: string };
  /** ...and the RFC 9162 consistency proof from tree size last_seq to it, base64. */
  range_consistency: string[];
  /** The data file: gzip of the entry lines. sha256 is hex, of the compressed bytes. */
  data: { file: string; encoding: 'gzip'; level: number; bytes: number; sha256: string };
  sealed_at: string;
}

/** An entry read back from a segment, with the hashes computed for it. */
export type SegmentEntry = VerifiedEntry;

const fail = failVerification;
const b64 = (s: string): Hash => Buffer.from(s, 'base64');
export const sha256Hex = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

type GzipLevel = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

/** The data file bytes: one canonical entry per line, gzip-compressed at `level` (deterministic: no mtime). */
export function encodeSegmentData(canonicals: Iterable<Uint8Array>, level: number): Uint8Array {
  const parts: Buffer[] = [];
  for (const c of canonicals) parts.push(Buffer.from(c), Buffer.from('\n'));
  return gzipSync(Buffer.concat(parts), { level: Math.min(9, Math.max(0, Math.round(level))) as GzipLevel, mtime: 0 });
}

export interface ReadSegmentOptions {
  /** Check the checkpoint signature against these keys (every one must have signed). Without them only the proofs are checked. */
  verifiers?: NoteVerifier[];
}

/**
 * Decodes and fully verifies a segment against its manifest: data digest and
 * length, one canonical entry per line, seq continuity, the hash chain, the
 * Merkle root over [1, last_seq] and its consistency with the manifest's
 * checkpoint (and the checkpoint signature when keys are given). Returns the
 * entries with their hashes, or throws LedgerVerificationError naming the failure.
 */
export function readSegment(manifest: SegmentManifest, data: Uint8Array, options: ReadSegmentOptions = {}): SegmentEntry[] {
  if (manifest.format !== SEGMENT_FORMAT) fail('bad_manifest', `unknown segment format ${String(manifest.format)}`);
  const { first_seq: first, last_seq: last, count } = manifest;
  if (!Number.isSafeInteger(first) || first < 1 || last !== first + count - 1) fail('bad_manifest', `seq range ${first}..${last} does not hold ${count} entries`);
  if (data.length !== manifest.data.bytes || sha256Hex(data) !== manifest.data.sha256) fail('digest_mismatch', `${manifest.data.file}: the data does not match the manifest digest`);
  let text: string;
  try {
    text = Buffer.from(gunzipSync(data)).toString('utf8');
  } catch (error) {
    return fail('unreadable', `${manifest.data.file}: not gzip (${(error as Error).message})`);
  }
  if (!text.endsWith('\n')) fail('truncated', `${manifest.data.file}: the last line has no newline (truncated?)`);
  const lines = text.slice(0, -1).split('\n');
  if (lines.length !== count) fail('entry_count', `${manifest.data.file}: ${lines.length} entries, the manifest says ${count}`);
  const out = [...verifyEntries(lines.map((line) => ({ canonical: Buffer.from(line, 'utf8') })), b64(manifest.prev_entry_hash), first)];
  const lastHash = out.length > 0 ? out[out.length - 1]!.entryHash : b64(manifest.prev_entry_hash);
  if (!lastHash.equals(b64(manifest.last_entry_hash))) fail('broken_chain', `the hash chain does not end at the manifest's last_entry_hash (seq ${last})`);

  const root = rootFromRange(first - 1, manifest.frontier.map(b64), out.map((e) => e.leafHash)).root;
  const { text: noteText } = openNote(manifest.checkpoint.note, options.verifiers ?? [], options.verifiers ? undefined : []);
  const checkpoint = parseCheckpoint(noteText);
  if (checkpoint.origin !== manifest.origin) fail('wrong_origin', `checkpoint is for ${checkpoint.origin}, not ${manifest.origin}`);
  if (checkpoint.size !== manifest.checkpoint.size) fail('bad_checkpoint', `checkpoint note says size ${checkpoint.size}, the manifest ${manifest.checkpoint.size}`);
  if (!verifyConsistency(last, checkpoint.size, root, checkpoint.root, manifest.range_consistency.map(b64))) {
    fail('not_in_checkpoint', `the Merkle root at ${last} is not consistent with signed checkpoint ${checkpoint.size}`);
  }
  return out;
}

/** Leaf hashes of a segment, concatenated: what stays after retention ends, so proofs for later entries still work. */
export function leavesFile(entries: SegmentEntry[]): Buffer {
  return Buffer.concat(entries.map((e) => e.leafHash));
}
