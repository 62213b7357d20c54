import { strFromU8, unzipSync } from 'fflate';
import { canonicalEntry, chainHash, entryLeaf, type LedgerEntry } from './chain';
import { NoteVerifier, openNote, parseCheckpoint } from './checkpoint';
import { rootFromRange, verifyConsistency, verifyInclusion, type Hash } from './merkle';

export const PACK_FORMAT = 'ctp-compliance-pack/1';

/** manifest.json of a compliance pack. Hashes are base64. */
export interface PackManifest {
  format: typeof PACK_FORMAT;
  origin: string;
  created_at: string;
  range: { from: string; to: string };
  /** Entries [first_seq, last_seq] are in entries.jsonl; 0/0 when the range is empty. */
  first_seq: number;
  last_seq: number;
  /** entry_hash of entry first_seq - 1 (32 zero bytes before entry 1). */
  prev_entry_hash: string;
  /** Perfect-subtree hashes of the first first_seq - 1 leaves (a compact range). */
  frontier: string[];
  /** Size of the signed checkpoint everything is proven against (the last line of checkpoints.jsonl). */
  checkpoint_size: number;
  /** Consistency proof from tree size last_seq to checkpoint_size. */
  range_consistency: string[];
}

export interface PackCheckpoint {
  size: number;
  previous_size: number | null;
  consistency: string[];
  note: string;
}

export const PACK_FILES = {
  manifest: 'manifest.json',
  entries: 'entries.jsonl',
  chain: 'entry_hashes.txt',
  checkpoints: 'checkpoints.jsonl',
  inclusion: 'inclusion_proofs.jsonl',
  verifiers: 'verifiers.txt',
  readme: 'README.md',
} as const;

export class PackVerificationError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PackVerificationError';
  }
}

export interface PackSummary {
  origin: string;
  range: { from: string; to: string };
  entries: number;
  firstSeq: number;
  lastSeq: number;
  checkpoints: number;
  checkpointSize: number;
  inclusionProofs: number;
  signedBy: string[];
  pinnedKeys: boolean;
}

export interface VerifyOptions {
  /** Keys the auditor trusts. Without them the pack's own verifiers.txt is used (and the summary says so). */
  trustedKeys?: NoteVerifier[];
  onProgress?: (done: number, total: number) => void;
}

const b64 = (s: string): Hash => Buffer.from(s, 'base64');
const fail = (code: string, message: string): never => {
  throw new PackVerificationError(code, message);
};

function lines(text: string): string[] {
  if (text === '') return [];
  if (!text.endsWith('\n')) fail('truncated', 'a JSON-lines file does not end with a newline (truncated?)');
  return text.slice(0, -1).split('\n');
}

/**
 * Verifies a compliance pack offline, trusting nothing in it but the keys: every
 * checkpoint note's signatures, the consistency chain between checkpoints, every
 * entry's canonical form, seq continuity and hash chain, the rebuilt Merkle root
 * over the range proven consistent with the final signed checkpoint, and every
 * sampled inclusion proof. Throws PackVerificationError naming the first failure.
 */
export function verifyPack(zip: Uint8Array, options: VerifyOptions = {}): PackSummary {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(zip);
  } catch (error) {
    return fail('unreadable', `not a readable zip archive (${String((error as Error).message ?? error)})`);
  }
  const text = (name: string) => {
    const bytes = files[name];
    if (!bytes) return fail('missing_file', `the pack has no ${name}`);
    return strFromU8(bytes);
  };
  let manifest: PackManifest;
  try {
    manifest = JSON.parse(text(PACK_FILES.manifest)) as PackManifest;
  } catch (error) {
    if (error instanceof PackVerificationError) throw error;
    return fail('bad_manifest', 'manifest.json is not JSON');
  }
  if (manifest.format !== PACK_FORMAT) fail('bad_manifest', `unknown pack format ${String(manifest.format)}`);

  const packKeys = lines(text(PACK_FILES.verifiers)).map((l) => NoteVerifier.parse(l));
  const keys = options.trustedKeys ?? packKeys;
  const required = [...new Set(keys.map((k) => k.name))];

  // Checkpoints: each signed by every trusted key, each consistent with the one before.
  const checkpoints = lines(text(PACK_FILES.checkpoints)).map((l) => JSON.parse(l) as PackCheckpoint);
  if (checkpoints.length === 0) fail('no_checkpoint', 'the pack holds no signed checkpoint');
  let previous: { size: number; root: Hash } | undefined;
  let signedBy: string[] = [];
  for (const c of checkpoints) {
    let opened;
    try {
      opened = openNote(c.note, keys, required);
    } catch (error) {
      return fail('bad_signature', `checkpoint ${c.size}: ${(error as Error).message}`);
    }
    signedBy = opened.verifiedBy;
    const body = parseCheckpoint(opened.text);
    if (body.origin !== manifest.origin) fail('wrong_origin', `checkpoint ${c.size} is for origin ${body.origin}, not ${manifest.origin}`);
    if (body.size !== c.size) fail('bad_checkpoint', `checkpoint line says size ${c.size} but its note says ${body.size}`);
    if (previous) {
      if (c.previous_size !== previous.size || !verifyConsistency(previous.size, c.size, previous.root, body.root, c.consistency.map(b64))) {
        fail('inconsistent_checkpoints', `checkpoint ${c.size} is not consistent with checkpoint ${previous.size}`);
      }
    }
    previous = { size: c.size, root: body.root };
  }
  const final = previous!;
  if (final.size !== manifest.checkpoint_size) fail('bad_manifest', `manifest names checkpoint ${manifest.checkpoint_size}, the last one is ${final.size}`);

  // Entries: canonical bytes, contiguous seq, hash chain, then the range proof.
  const entryLines = lines(text(PACK_FILES.entries));
  const chainLines = lines(text(PACK_FILES.chain));
  const expected = manifest.last_seq === 0 ? 0 : manifest.last_seq - manifest.first_seq + 1;
  if (entryLines.length !== expected) fail('entry_count', `entries.jsonl has ${entryLines.length} entries, the manifest says ${expected} (${manifest.first_seq}..${manifest.last_seq})`);
  if (chainLines.length !== entryLines.length) fail('entry_count', 'entry_hashes.txt and entries.jsonl differ in length');
  let prev = b64(manifest.prev_entry_hash);
  const leaves: Hash[] = [];
  const from = Date.parse(manifest.range.from);
  const to = Date.parse(manifest.range.to);
  entryLines.forEach((line, i) => {
    const seq = manifest.first_seq + i;
    const bytes = Buffer.from(line, 'utf8');
    let entry: LedgerEntry;
    try {
      entry = JSON.parse(line) as LedgerEntry;
    } catch {
      return fail('bad_entry', `entry ${seq} is not JSON`);
    }
    if (!canonicalEntry(entry).equals(bytes)) fail('bad_entry', `entry ${seq} is not in canonical form (altered?)`);
    if (entry.seq !== seq) fail('entry_order', `line ${i + 1} holds entry ${entry.seq}, expected ${seq} (dropped or reordered entries)`);
    const recorded = Date.parse(entry.recorded_at);
    if (!(recorded >= from && recorded < to)) fail('out_of_range', `entry ${seq} was recorded at ${entry.recorded_at}, outside the pack range`);
    prev = chainHash(prev, bytes);
    if (!prev.equals(b64(chainLines[i]!))) fail('broken_chain', `entry ${seq}: SHA-256(prev || entry) does not match its recorded entry hash`);
    leaves.push(entryLeaf(bytes));
    if (options.onProgress && (i + 1) % 10_000 === 0) options.onProgress(i + 1, entryLines.length);
  });
  options.onProgress?.(entryLines.length, entryLines.length);
  if (expected > 0) {
    const rebuilt = rootFromRange(manifest.first_seq - 1, manifest.frontier.map(b64), leaves);
    if (!verifyConsistency(rebuilt.size, final.size, rebuilt.root, final.root, manifest.range_consistency.map(b64))) {
      fail('not_in_checkpoint', `entries ${manifest.first_seq}..${manifest.last_seq} are not contained in signed checkpoint ${final.size}`);
    }
  }

  // Sampled per-entry inclusion proofs, each against the final signed root.
  const proofs = lines(text(PACK_FILES.inclusion)).map((l) => JSON.parse(l) as { seq: number; proof: string[] });
  for (const p of proofs) {
    const index = p.seq - manifest.first_seq;
    const leaf = leaves[index];
    if (!leaf || !verifyInclusion(p.seq - 1, final.size, leaf, p.proof.map(b64), final.root)) {
      fail('bad_inclusion_proof', `inclusion proof for entry ${p.seq} does not verify against checkpoint ${final.size}`);
    }
  }
  return {
    origin: manifest.origin,
    range: manifest.range,
    entries: entryLines.length,
    firstSeq: manifest.first_seq,
    lastSeq: manifest.last_seq,
    checkpoints: checkpoints.length,
    checkpointSize: final.size,
    inclusionProofs: proofs.length,
    signedBy,
    pinnedKeys: options.trustedKeys !== undefined,
  };
}
