import { strFromU8, unzipSync } from 'fflate';
import { canonicalEntry, chainHash, entryLeaf, type LedgerEntry } from './chain';
import { NoteVerifier, openNote, parseCheckpoint } from './checkpoint';
import { rootFromRange, verifyConsistency, verifyInclusion, type Hash } from './merkle';
import { certificatesFromPem, TimestampError, verifyTimestampToken } from './timestamp';

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
  /** RFC 3161 tokens over checkpoint notes in checkpoints.jsonl (optional: absent or empty when none). */
  anchors: 'anchors.jsonl',
  readme: 'README.md',
} as const;

/**
 * A line of anchors.jsonl: an RFC 3161 token over the exact bytes of a signed
 * checkpoint note, with that note and an RFC 9162 consistency proof from it to the
 * pack's final checkpoint (so anchors of checkpoints older than checkpoints.jsonl count too).
 */
export interface PackAnchor {
  checkpoint_size: number;
  note: string;
  /** Consistency proof from checkpoint_size to manifest.checkpoint_size (empty when equal). */
  consistency: string[];
  /** base64 DER RFC 3161 token (CMS SignedData over TSTInfo, with the TSA's certificate chain). */
  token: string;
  tsa_url: string;
}

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

export interface AnchorSummary {
  checkpointSize: number;
  genTime: string;
  tsa: string;
  policy: string;
}

export interface AnchoredPackSummary extends PackSummary {
  anchors: AnchorSummary[];
  /** True when every anchor's TSA chain was verified to a pinned root; false: anchors are unchecked. */
  anchorsChecked: boolean;
}

/**
 * verifyPack, then the RFC 3161 anchors in anchors.jsonl: each anchored note must be
 * signed by the trusted keys and proven consistent with the pack's final checkpoint,
 * and, with `tsaRoots` (PEM text of the pinned TSA roots), the token must cover that
 * exact note, carry the TSA's critical timeStamping usage, and its signature and
 * certificate chain must verify. Without roots the tokens are not checked and the
 * summary says so (anchorsChecked false): a pack's own certificates prove nothing.
 */
export async function verifyPackWithAnchors(zip: Uint8Array, options: VerifyOptions & { tsaRoots?: string } = {}): Promise<AnchoredPackSummary> {
  const summary = verifyPack(zip, options);
  const files = unzipSync(zip, { filter: (f) => f.name === PACK_FILES.anchors || f.name === PACK_FILES.checkpoints || f.name === PACK_FILES.verifiers });
  const anchorFile = files[PACK_FILES.anchors];
  const anchorLines = anchorFile ? lines(strFromU8(anchorFile)) : [];
  // verifyPack has checked these: the final checkpoint and the keys it was checked with.
  const text = (name: string) => strFromU8(files[name] ?? new Uint8Array());
  const lastCheckpoint = lines(text(PACK_FILES.checkpoints)).pop() ?? '';
  const final = parseCheckpoint(openNote((JSON.parse(lastCheckpoint) as PackCheckpoint).note, []).text);
  const keys = options.trustedKeys ?? lines(text(PACK_FILES.verifiers)).map((l) => NoteVerifier.parse(l));
  const required = [...new Set(keys.map((k) => k.name))];
  let roots;
  try {
    roots = options.tsaRoots === undefined ? undefined : certificatesFromPem(options.tsaRoots);
  } catch (error) {
    return fail('bad_tsa_root', `the pinned TSA root is not a PEM certificate (${(error as Error).message})`);
  }
  const anchors: AnchorSummary[] = [];
  for (const line of anchorLines) {
    let anchor: PackAnchor;
    try {
      anchor = JSON.parse(line) as PackAnchor;
    } catch {
      return fail('bad_anchor', 'a line of anchors.jsonl is not JSON');
    }
    const name = `anchor for checkpoint ${anchor.checkpoint_size}`;
    let body;
    try {
      body = parseCheckpoint(openNote(anchor.note, keys, required).text);
    } catch (error) {
      return fail('bad_anchor', `${name}: its checkpoint note does not verify (${(error as Error).message})`);
    }
    if (body.origin !== summary.origin || body.size !== anchor.checkpoint_size) fail('bad_anchor', `${name}: its note is for ${body.origin} at size ${body.size}`);
    if (body.size > final.size || !verifyConsistency(body.size, final.size, body.root, final.root, anchor.consistency.map(b64))) {
      fail('bad_anchor', `${name}: the checkpoint is not consistent with signed checkpoint ${final.size}`);
    }
    if (!roots) {
      anchors.push({ checkpointSize: anchor.checkpoint_size, genTime: '', tsa: anchor.tsa_url, policy: '' });
      continue;
    }
    try {
      const result = await verifyTimestampToken(Buffer.from(anchor.token, 'base64'), { note: anchor.note, roots });
      anchors.push({ checkpointSize: anchor.checkpoint_size, genTime: result.genTime.toISOString(), tsa: result.tsa, policy: result.policy });
    } catch (error) {
      if (!(error instanceof TimestampError)) throw error;
      fail('bad_anchor', `${name}: ${error.message}`);
    }
  }
  return { ...summary, anchors, anchorsChecked: roots !== undefined };
}
