import { receiptEntryProblem } from '@ctp/ctp-core';
import { entryLeaf, readCanonicalEntry, verifyEntries, type LedgerEntry } from './chain';
import { NoteVerifier, openNote, parseCheckpoint } from './checkpoint';
import { failVerification, LedgerVerificationError, type LedgerVerificationCode } from './errors';
import { RangeHasher, verifyConsistency, verifyInclusion, type Hash } from './merkle';
import { certificatesFromPem, TimestampError, verifyTimestampToken } from './timestamp';
import { bufferSource, ZipReader, type ByteSource, type ZipMember } from './zip';

/** Format 2 adds the boundary entries that prove a pack's range complete (`boundaries`). */
export const PACK_FORMAT = 'ctp-compliance-pack/2';

/**
 * An entry just outside the pack's range, with its RFC 9162 inclusion proof (leaf index
 * = seq - 1) against the pack's final checkpoint. The one before the range was recorded
 * before `range.from`, the one after at or after `range.to`: no entry of the range can
 * be missing at either edge without one of them failing.
 */
export interface PackBoundary {
  /** The entry's exact RFC 8785 canonical JSON (as in entries.jsonl). */
  entry: string;
  inclusion: string[];
}

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
  /**
   * The entries just outside the range. `before` is null only when the range starts at
   * the log's first entry; `after` is null only when the final checkpoint ends inside
   * the range (an open end: later entries may still belong to it).
   */
  boundaries: { before: PackBoundary | null; after: PackBoundary | null };
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

/** Per-entry inclusion proofs in a pack: all entries up to this many, else an even sample of this many. */
export const INCLUSION_SAMPLE = 1000;

/**
 * What a pack's files may hold at most, far above anything CTP writes: a verifier
 * refuses more (too_large) rather than inflating or buffering it. An entry is one bus
 * event (NATS payloads are at most 1 MiB by default).
 */
export const PACK_LIMITS = {
  manifestBytes: 8 * 1024 * 1024,
  verifiersBytes: 64 * 1024,
  entryLineBytes: 2 * 1024 * 1024,
  checkpointLineBytes: 256 * 1024,
  proofLineBytes: 16 * 1024,
  anchorLineBytes: 256 * 1024,
  /** A zip member without zip64 cannot declare more. */
  memberBytes: 0xffffffff,
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

export interface PackSummary {
  origin: string;
  range: { from: string; to: string };
  entries: number;
  firstSeq: number;
  lastSeq: number;
  checkpoints: number;
  checkpointSize: number;
  inclusionProofs: number;
  /** Guard receipts (`guard.receipt` entries) in the range, each checked well-formed (and, as every entry, chained and proven). */
  receipts: number;
  signedBy: string[];
  pinnedKeys: boolean;
  /** The seqs of the boundary entries proven just outside the range (null: the log's start, or an open end). */
  boundaries: { before: number | null; after: number | null };
  /** True when the final checkpoint ends inside the range: entries recorded after it may belong to the range too. */
  openEnd: boolean;
}

export interface VerifyOptions {
  /** Keys the auditor trusts. Without them the pack's own verifiers.txt is used (and the summary says so). */
  trustedKeys?: NoteVerifier[];
  onProgress?: (done: number, total: number) => void;
}

const fail = failVerification;

/** A JSON value from text, or the given failure. */
function json(text: string | Buffer, code: LedgerVerificationCode, what: string): unknown {
  try {
    return JSON.parse(text.toString());
  } catch {
    return fail(code, `${what} is not JSON`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** A 32-byte hash from standard base64, or the given failure. */
function hash(v: unknown, code: LedgerVerificationCode, what: string): Hash {
  const bytes = typeof v === 'string' ? Buffer.from(v, 'base64') : undefined;
  if (!bytes || bytes.length !== 32 || bytes.toString('base64') !== v) fail(code, `${what} is not a base64 SHA-256 hash`);
  return bytes!;
}

function hashes(v: unknown, code: LedgerVerificationCode, what: string): Hash[] {
  if (!Array.isArray(v) || v.length > 128) fail(code, `${what} is not a list of hashes`);
  return (v as unknown[]).map((h, i) => hash(h, code, `${what}[${i}]`));
}

function readManifest(reader: ZipReader): PackManifest {
  const member = reader.get(PACK_FILES.manifest) ?? fail('missing_file', `the pack has no ${PACK_FILES.manifest}`);
  const m = json(reader.text(member, PACK_LIMITS.manifestBytes), 'bad_manifest', PACK_FILES.manifest);
  if (!isObject(m)) return fail('bad_manifest', 'manifest.json is not an object');
  if (m.format === 'ctp-compliance-pack/1') fail('incomplete_range', 'a format 1 pack does not prove that its range is complete; export the range again');
  if (m.format !== PACK_FORMAT) fail('bad_manifest', `unknown pack format ${String(m.format)}`);
  const range = m.range;
  if (typeof m.origin !== 'string' || !isObject(range) || typeof range.from !== 'string' || typeof range.to !== 'string' || Number.isNaN(Date.parse(range.from)) || Number.isNaN(Date.parse(range.to))) {
    fail('bad_manifest', 'origin or range is missing or malformed');
  }
  if (!isSeq(m.first_seq) || !isSeq(m.last_seq) || !isSeq(m.checkpoint_size) || (m.first_seq === 0) !== (m.last_seq === 0) || m.last_seq < m.first_seq) {
    fail('bad_manifest', 'first_seq, last_seq and checkpoint_size must be a seq range and a size');
  }
  hash(m.prev_entry_hash, 'bad_manifest', 'prev_entry_hash');
  hashes(m.frontier, 'bad_manifest', 'frontier');
  hashes(m.range_consistency, 'bad_manifest', 'range_consistency');
  const b = m.boundaries;
  const boundary = (v: unknown) => v === null || (isObject(v) && typeof v.entry === 'string' && Array.isArray(v.inclusion));
  if (!isObject(b) || !boundary(b.before) || !boundary(b.after)) fail('bad_manifest', 'boundaries must hold the entries before and after the range (or null)');
  return m as unknown as PackManifest;
}

/** Counts the lines of a member, stopping early once there are more than `expected`. */
function countLines(reader: ZipReader, member: ZipMember, maxLine: number, expected: number): number {
  let n = 0;
  for (const _ of reader.lines(member, { maxBytes: PACK_LIMITS.memberBytes, maxLine })) if (++n > expected) break;
  return n;
}

interface Verified {
  summary: PackSummary;
  reader: ZipReader;
  final: { size: number; root: Hash };
  keys: NoteVerifier[];
  required: string[];
}

function verifyContents(zip: Uint8Array | ByteSource, options: VerifyOptions): Verified {
  const reader = new ZipReader(zip instanceof Uint8Array ? bufferSource(zip) : zip);
  const member = (name: string) => reader.get(name) ?? fail('missing_file', `the pack has no ${name}`);
  const manifest = readManifest(reader);

  const packKeys = [...reader.lines(member(PACK_FILES.verifiers), { maxBytes: PACK_LIMITS.verifiersBytes, maxLine: PACK_LIMITS.verifiersBytes })].map((l) => NoteVerifier.parse(l.toString()));
  const keys = options.trustedKeys ?? packKeys;
  const required = [...new Set(keys.map((k) => k.name))];

  // Checkpoints, streamed: each signed by every trusted key, each consistent with the one before.
  let previous: { size: number; root: Hash } | undefined;
  let signedBy: string[] = [];
  let checkpoints = 0;
  for (const line of reader.lines(member(PACK_FILES.checkpoints), { maxBytes: PACK_LIMITS.memberBytes, maxLine: PACK_LIMITS.checkpointLineBytes })) {
    const c = json(line, 'bad_checkpoint', `line ${checkpoints + 1} of checkpoints.jsonl`);
    if (!isObject(c) || !isSeq(c.size) || typeof c.note !== 'string' || !(c.previous_size === null || isSeq(c.previous_size))) {
      return fail('bad_checkpoint', `line ${checkpoints + 1} of checkpoints.jsonl is not a checkpoint`);
    }
    let opened;
    try {
      opened = openNote(c.note, keys, required);
    } catch (error) {
      if (!(error instanceof LedgerVerificationError)) throw error;
      return fail(error.code, `checkpoint ${c.size}: ${error.message}`);
    }
    signedBy = opened.verifiedBy;
    const body = parseCheckpoint(opened.text);
    if (body.origin !== manifest.origin) fail('wrong_origin', `checkpoint ${c.size} is for origin ${body.origin}, not ${manifest.origin}`);
    if (body.size !== c.size) fail('bad_checkpoint', `checkpoint line says size ${c.size} but its note says ${body.size}`);
    if (previous) {
      const proof = hashes(c.consistency, 'inconsistent_checkpoints', `consistency proof of checkpoint ${c.size}`);
      if (c.previous_size !== previous.size || !verifyConsistency(previous.size, body.size, previous.root, body.root, proof)) {
        fail('inconsistent_checkpoints', `checkpoint ${c.size} is not consistent with checkpoint ${previous.size}`);
      }
    }
    previous = { size: body.size, root: body.root };
    checkpoints++;
  }
  if (!previous) return fail('no_checkpoint', 'the pack holds no signed checkpoint');
  const final = previous;
  if (final.size !== manifest.checkpoint_size) fail('bad_manifest', `manifest names checkpoint ${manifest.checkpoint_size}, the last one is ${final.size}`);

  const first = manifest.first_seq;
  const last = manifest.last_seq;
  const expected = last === 0 ? 0 : last - first + 1;
  if (last > final.size) fail('not_in_checkpoint', `entries up to ${last} cannot be in signed checkpoint ${final.size}`);

  // Sampled inclusion proofs: at most INCLUSION_SAMPLE, checked when their entry comes by.
  const proofs = new Map<number, Hash[]>();
  for (const line of reader.lines(member(PACK_FILES.inclusion), { maxBytes: PACK_LIMITS.memberBytes, maxLine: PACK_LIMITS.proofLineBytes })) {
    if (proofs.size >= INCLUSION_SAMPLE) fail('too_large', `inclusion_proofs.jsonl holds more than ${INCLUSION_SAMPLE} proofs`);
    const p = json(line, 'bad_inclusion_proof', 'a line of inclusion_proofs.jsonl');
    if (!isObject(p) || !isSeq(p.seq) || p.seq < first || p.seq > last || proofs.has(p.seq)) return fail('bad_inclusion_proof', `an inclusion proof names an entry outside ${first}..${last}`);
    proofs.set(p.seq, hashes(p.proof, 'bad_inclusion_proof', `inclusion proof of entry ${p.seq}`));
  }

  // Entries: canonical bytes, contiguous seq, hash chain, time range and the range proof, in one pass.
  const entriesMember = member(PACK_FILES.entries);
  const chainMember = member(PACK_FILES.chain);
  const from = Date.parse(manifest.range.from);
  const to = Date.parse(manifest.range.to);
  // The counts the manifest promises decide first, as if checked before the pass (a dropped
  // entry is entry_count, not the entry_order it causes): counted (a second, cheap pass with
  // no parsing) only when the pass fails, or the pass itself found a count wrong.
  const checkCounts = () => {
    const counted = countLines(reader, entriesMember, PACK_LIMITS.entryLineBytes, expected);
    if (counted !== expected) fail('entry_count', `entries.jsonl has ${counted > expected ? 'more than ' : ''}${counted} entries, the manifest says ${expected} (${first}..${last})`);
    if (countLines(reader, chainMember, 64, expected) !== expected) fail('entry_count', 'entry_hashes.txt and entries.jsonl differ in length');
  };
  const miscounted = (): never => fail('entry_count', 'entries.jsonl or entry_hashes.txt does not hold the entries the manifest says');
  let receipts = 0;
  let range: RangeHasher | undefined;
  try {
    const chain = reader.lines(chainMember, { maxBytes: PACK_LIMITS.memberBytes, maxLine: 64 });
    const rows = (function* () {
      let seq = first;
      for (const bytes of reader.lines(entriesMember, { maxBytes: PACK_LIMITS.memberBytes, maxLine: PACK_LIMITS.entryLineBytes })) {
        const stored = chain.next();
        if (stored.done || seq - first >= expected) miscounted();
        yield { canonical: bytes, entryHash: hash(stored.value.toString(), 'broken_chain', `entry_hashes.txt line for entry ${seq++}`) };
      }
    })();
    range = expected > 0 ? new RangeHasher(first - 1, hashes(manifest.frontier, 'bad_frontier', 'frontier')) : undefined;
    let done = 0;
    // Entries appended in one batch share their recorded_at: parsed once per run of them.
    let recordedAt: unknown;
    let recorded = NaN;
    for (const e of verifyEntries(rows, hash(manifest.prev_entry_hash, 'bad_manifest', 'prev_entry_hash'), first)) {
      if (e.entry.recorded_at !== recordedAt) recorded = Date.parse((recordedAt = e.entry.recorded_at));
      if (!(recorded >= from && recorded < to)) fail('out_of_range', `entry ${e.entry.seq} was recorded at ${e.entry.recorded_at}, outside the pack range`, { seq: e.entry.seq });
      range!.push(e.leafHash);
      if (e.entry.type === 'guard.receipt') {
        const problem = receiptEntryProblem(e.entry.event_id, e.entry.data);
        if (problem) fail('bad_receipt', `entry ${e.entry.seq} is not a well-formed guard receipt: ${problem}`, { seq: e.entry.seq });
        receipts++;
      }
      const proof = proofs.get(e.entry.seq);
      if (proof && !verifyInclusion(e.entry.seq - 1, final.size, e.leafHash, proof, final.root)) {
        fail('bad_inclusion_proof', `inclusion proof for entry ${e.entry.seq} does not verify against checkpoint ${final.size}`, { seq: e.entry.seq });
      }
      if (++done % 10_000 === 0) options.onProgress?.(done, expected);
    }
    if (done !== expected || !chain.next().done) miscounted();
  } catch (error) {
    checkCounts();
    throw error;
  }
  options.onProgress?.(expected, expected);
  if (range && !verifyConsistency(range.size, final.size, range.root(), final.root, hashes(manifest.range_consistency, 'not_in_checkpoint', 'range_consistency'))) {
    fail('not_in_checkpoint', `entries ${first}..${last} are not contained in signed checkpoint ${final.size}`);
  }

  const boundaries = verifyBoundaries(manifest, final, from, to);
  return {
    reader,
    final,
    keys,
    required,
    summary: {
      origin: manifest.origin,
      range: manifest.range,
      entries: expected,
      firstSeq: first,
      lastSeq: last,
      checkpoints,
      checkpointSize: final.size,
      inclusionProofs: proofs.size,
      receipts,
      signedBy,
      pinnedKeys: options.trustedKeys !== undefined,
      boundaries,
      openEnd: boundaries.after === null,
    },
  };
}

/**
 * The range is complete when the entry just before it was recorded before `from` and
 * the one just after it at or after `to`, both proven in the final checkpoint (or the
 * range starts at entry 1, or runs to the checkpoint's end: an open end). Without
 * them a pack could drop entries at either edge and recompute its Merkle values.
 */
function verifyBoundaries(manifest: PackManifest, final: { size: number; root: Hash }, from: number, to: number): PackSummary['boundaries'] {
  const incomplete = (why: string): never => fail('incomplete_range', why);
  const proven = (b: PackBoundary, what: string): LedgerEntry => {
    const canonical = Buffer.from(b.entry, 'utf8');
    let entry: LedgerEntry;
    try {
      entry = readCanonicalEntry(canonical);
    } catch {
      return incomplete(`the entry ${what} the range is not a canonical ledger entry`);
    }
    const proof = hashes(b.inclusion, 'incomplete_range', `inclusion proof of the entry ${what} the range`);
    if (!isSeq(entry.seq) || entry.seq < 1 || !verifyInclusion(entry.seq - 1, final.size, entryLeaf(canonical), proof, final.root)) {
      incomplete(`the entry ${what} the range is not proven in signed checkpoint ${final.size}`);
    }
    return entry;
  };
  const { before, after } = manifest.boundaries;
  const beforeEntry = before && proven(before, 'before');
  const afterEntry = after && proven(after, 'after');
  if (beforeEntry && !(Date.parse(beforeEntry.recorded_at) < from)) incomplete(`entry ${beforeEntry.seq}, given as the one before the range, was recorded at ${beforeEntry.recorded_at}: the range starts earlier (entries dropped at its start?)`);
  if (afterEntry && !(Date.parse(afterEntry.recorded_at) >= to)) incomplete(`entry ${afterEntry.seq}, given as the one after the range, was recorded at ${afterEntry.recorded_at}: the range ends later (entries dropped at its end?)`);
  const empty = manifest.last_seq === 0;
  // The seqs the boundaries must have: adjacent to the entries, or to each other for an empty range.
  const start = empty ? (beforeEntry?.seq ?? 0) + 1 : manifest.first_seq;
  const end = empty ? start - 1 : manifest.last_seq;
  if ((beforeEntry?.seq ?? 0) !== start - 1) incomplete(start > 1 ? `the pack does not prove entry ${start - 1} was recorded before the range` : 'the range starts at entry 1 but the pack gives an entry before it');
  if (afterEntry) {
    if (afterEntry.seq !== end + 1) incomplete(`the entry given as the one after the range is ${afterEntry.seq}, not ${end + 1}: entries are missing between them`);
  } else if (end !== final.size) {
    incomplete(`the pack does not prove entry ${end + 1} was recorded after the range`);
  }
  return { before: beforeEntry?.seq ?? null, after: afterEntry?.seq ?? null };
}

/**
 * Verifies a compliance pack offline, trusting nothing in it but the keys, streaming
 * its files with bounded memory: every checkpoint note's signatures, the consistency
 * chain between checkpoints, every entry's canonical form, seq continuity and hash
 * chain, the rebuilt Merkle root over the range proven consistent with the final
 * signed checkpoint, every sampled inclusion proof, and the boundary entries that
 * prove no entry of the range is missing at either edge. Throws
 * LedgerVerificationError naming the first failure.
 */
export function verifyPack(zip: Uint8Array | ByteSource, options: VerifyOptions = {}): PackSummary {
  return verifyContents(zip, options).summary;
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
export async function verifyPackWithAnchors(zip: Uint8Array | ByteSource, options: VerifyOptions & { tsaRoots?: string } = {}): Promise<AnchoredPackSummary> {
  const { summary, reader, final, keys, required } = verifyContents(zip, options);
  let roots;
  try {
    roots = options.tsaRoots === undefined ? undefined : certificatesFromPem(options.tsaRoots);
  } catch (error) {
    return fail('bad_tsa_root', `the pinned TSA root is not a PEM certificate (${(error as Error).message})`);
  }
  const anchors: AnchorSummary[] = [];
  const anchorMember = reader.get(PACK_FILES.anchors);
  const lines = anchorMember ? reader.lines(anchorMember, { maxBytes: PACK_LIMITS.memberBytes, maxLine: PACK_LIMITS.anchorLineBytes }) : [];
  for (const line of lines) {
    const anchor = json(line, 'bad_anchor', 'a line of anchors.jsonl');
    if (!isObject(anchor) || !isSeq(anchor.checkpoint_size) || typeof anchor.note !== 'string' || typeof anchor.token !== 'string' || typeof anchor.tsa_url !== 'string') {
      return fail('bad_anchor', 'a line of anchors.jsonl is not an anchor');
    }
    const name = `anchor for checkpoint ${anchor.checkpoint_size}`;
    let body;
    try {
      body = parseCheckpoint(openNote(anchor.note, keys, required).text);
    } catch (error) {
      if (!(error instanceof LedgerVerificationError)) throw error;
      return fail('bad_anchor', `${name}: its checkpoint note does not verify (${error.message})`);
    }
    if (body.origin !== summary.origin || body.size !== anchor.checkpoint_size) fail('bad_anchor', `${name}: its note is for ${body.origin} at size ${body.size}`);
    if (body.size > final.size || !verifyConsistency(body.size, final.size, body.root, final.root, hashes(anchor.consistency, 'bad_anchor', `${name}: consistency`))) {
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
