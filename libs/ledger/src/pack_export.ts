import { strToU8, Zip, ZipDeflate } from 'fflate';
import { INCLUSION_SAMPLE, PACK_FILES, PACK_FORMAT, type NoteVerifier, type PackAnchor, type PackBoundary, type PackCheckpoint, type PackManifest } from '@ctp/ledger-core';
import { listAnchorsWithNotes } from './anchor';
import type { LedgerView, SigningView } from './reader';
import type { LedgerStore } from './store';

export interface PackSource {
  store: LedgerStore;
  /**
   * The read side. A view that can sign (the writer: SigningView) signs a checkpoint
   * over its tree first, so a pack of entries appended since the last checkpoint still
   * proves them; one that only reads ends the pack at the newest signed checkpoint.
   */
  view: LedgerView | SigningView;
  /** The keys checkpoints carry signatures of (every form a key's notes may use: NoteSigner.verifiers). */
  verifiers: NoteVerifier[];
  origin: string;
}

/** Entries read from the store per query while a pack streams out. */
const PAGE = 5_000;
const b64 = (h: Buffer) => h.toString('base64');

const README = `# CTP compliance pack

This archive lets you verify, offline and without access to the CTP service, that
the consent ledger entries it contains were recorded in an append-only log whose
state the operator signed, and that no entry of its time range is missing.

Verify it with \`ctp verify pack.zip --key <verifier key>\` (pin the operator's
published verifier key; without --key the keys inside the pack are used and the
result only shows the pack is self-consistent). Or by hand:

1. verifiers.txt: the checkpoint verifier keys (C2SP signed-note vkeys:
   name+keyid+base64(type || public key); type 0x01 = Ed25519, 0xff followed by
   "ctp/ml-dsa-65" and a newline = ML-DSA-65).
2. checkpoints.jsonl: signed checkpoints (C2SP tlog-checkpoint notes), oldest
   first; each carries an RFC 9162 consistency proof from the previous one.
3. entries.jsonl: one entry per line, exactly the RFC 8785 canonical JSON bytes
   that were hashed. seq runs without gaps from manifest.first_seq.
4. entry_hashes.txt: entry_hash = SHA-256(previous entry_hash || entry bytes),
   starting from manifest.prev_entry_hash.
5. Merkle leaves are SHA-256(0x00 || entry bytes) (RFC 6962). manifest.frontier
   holds the subtree hashes left of the first entry; with the leaves they give the
   tree root at size last_seq, and manifest.range_consistency proves that root is
   contained in the last signed checkpoint (RFC 9162 section 2.1.4.2).
6. manifest.boundaries: the entry just before the range (recorded before
   range.from) and the one just after it (recorded at or after range.to), each with
   an inclusion proof against the last signed checkpoint. They pin first_seq and
   last_seq to the time range: no entry of the range can be missing at either edge.
   "after" is null when the last checkpoint ends inside the range (an open end).
7. inclusion_proofs.jsonl: RFC 9162 inclusion proofs (leaf index = seq - 1) for a
   sample of entries against the last signed checkpoint.
8. anchors.jsonl: RFC 3161 timestamp tokens (base64 DER, with the TSA's certificate
   chain), each over SHA-256 of the exact bytes of the signed checkpoint note on the
   same line, with an RFC 9162 consistency proof from that checkpoint to the last
   one: an independent time-stamping authority saw that checkpoint, and so every
   entry up to its size, by the token's genTime.
   Check them with \`ctp verify pack.zip --tsa-root tsa-root.pem\` (pin the TSA's
   root certificate; without it the anchors are reported unchecked), or by hand:
   \`openssl ts -verify -digest <sha256 of the note> -in token.der -token_in
   -CAfile tsa-root.pem\`.

Entries hold no raw personal data: subjects are pairwise pseudonyms, contexts are
hashes, and purposes, scopes, jurisdictions and consent-copy ids are as the
partner's consent screen stated them.
`;

/** Everything a pack needs before its first byte goes out, so an export fails before it starts streaming, not halfway. */
async function planPack(source: PackSource, from: Date, to: Date) {
  const { store, view } = source;
  const range = await store.seqRange(from, to);
  let final = view.checkpointed;
  if (range && (!final || final.size < range.last) && 'checkpoint' in view) final = (await view.checkpoint()) ?? view.checkpointed;
  if (!final) throw new Error('the ledger has no signed checkpoint yet');
  const size = final.size;
  // Entries recorded after the newest checkpoint wait for the next one (a read-only process cannot sign).
  const last = range ? Math.min(range.last, size) : 0;
  const first = range && range.first <= last ? range.first : 0;
  const boundary = async (seq: number): Promise<PackBoundary | null> => {
    if (seq < 1 || seq > size) return null;
    const entry = await store.entry(seq);
    if (!entry) throw new Error(`ledger entry ${seq}, the boundary of the range, is no longer retained`);
    return { entry: entry.canonical.toString('utf8'), inclusion: view.tree.inclusionProof(seq - 1, size).map(b64) };
  };
  const before = first > 0 ? first - 1 : Math.min(size, await store.lastSeqBefore(from));
  const manifest: PackManifest = {
    format: PACK_FORMAT,
    origin: source.origin,
    created_at: new Date().toISOString(),
    range: { from: from.toISOString(), to: to.toISOString() },
    first_seq: first,
    last_seq: first > 0 ? last : 0,
    prev_entry_hash: b64(await store.hashBefore(first || 1)),
    frontier: first > 0 ? view.tree.frontier(first - 1).map(b64) : [],
    checkpoint_size: size,
    range_consistency: first > 0 ? view.tree.consistencyProof(last, size).map(b64) : [],
    boundaries: { before: await boundary(before), after: await boundary((first > 0 ? last : before) + 1) },
  };
  return { manifest, final };
}

/**
 * Streams a compliance pack for the entries recorded in [from, to): a zip whose chunks
 * the caller writes out as they come (an HTTP response, a file), so no pack is ever
 * held in memory whole. The store is read a page at a time; checkpoints and entries
 * are paged, proofs are bounded (INCLUSION_SAMPLE).
 */
export async function* streamPack(source: PackSource, from: Date, to: Date): AsyncGenerator<Uint8Array> {
  const { store, view } = source;
  const { manifest, final } = await planPack(source, from, to);
  const size = final.size;
  const out: Uint8Array[] = [];
  let failed: Error | undefined;
  const zip = new Zip((error, chunk) => {
    if (error) failed = error;
    else out.push(chunk);
  });
  const drain = function* () {
    if (failed) throw failed;
    yield* out.splice(0);
  };
  const file = (name: string) => {
    const f = new ZipDeflate(name, { level: 6 });
    zip.add(f);
    return f;
  };
  const lines = (rows: string[]) => strToU8(rows.map((r) => `${r}\n`).join(''));
  const whole = (name: string, data: Uint8Array) => file(name).push(data, true);

  whole(PACK_FILES.readme, strToU8(README));
  whole(PACK_FILES.manifest, strToU8(`${JSON.stringify(manifest, null, 2)}\n`));
  whole(PACK_FILES.verifiers, lines(source.verifiers.map((v) => v.toString())));
  yield* drain();

  // The chain of checkpoints from the first one that holds the range to the final one.
  const checkpoints = file(PACK_FILES.checkpoints);
  let first = true;
  for (let next = manifest.last_seq || size; next <= size; ) {
    const page = await store.checkpoints(next, size, PAGE);
    checkpoints.push(
      lines(page.map((c) => JSON.stringify({ size: c.size, previous_size: first ? null : c.previousSize, consistency: first ? [] : c.consistency.map(b64), note: c.note } satisfies PackCheckpoint))),
    );
    first = false;
    yield* drain();
    if (page.length < PAGE) break;
    next = page[page.length - 1]!.size + 1;
  }
  checkpoints.push(new Uint8Array(), true);

  const count = manifest.last_seq === 0 ? 0 : manifest.last_seq - manifest.first_seq + 1;
  const step = Math.max(1, Math.ceil(count / INCLUSION_SAMPLE));
  const proofs: string[] = [];
  for (let i = 0; i < count; i += step) {
    const seq = manifest.first_seq + i;
    proofs.push(JSON.stringify({ seq, proof: view.tree.inclusionProof(seq - 1, size).map(b64) }));
  }
  whole(PACK_FILES.inclusion, lines(proofs));

  // Anchors of every checkpoint that holds an entry of the range, each with its note and a consistency proof to the final checkpoint.
  const anchored = await listAnchorsWithNotes(store.sql, Math.max(1, manifest.first_seq), size, 10_000);
  const anchors: PackAnchor[] = anchored.map((a) => ({
    checkpoint_size: a.checkpointSize,
    note: a.note,
    consistency: view.tree.consistencyProof(a.checkpointSize, size).map(b64),
    token: a.token.toString('base64'),
    tsa_url: a.tsaUrl,
  }));
  whole(PACK_FILES.anchors, lines(anchors.map((a) => JSON.stringify(a))));
  yield* drain();

  // Entries, then their hashes: two passes over the store, so each file streams on its own.
  for (const [name, line] of [
    [PACK_FILES.entries, (e: { canonical: Buffer }) => e.canonical.toString('utf8')],
    [PACK_FILES.chain, (e: { entryHash: Buffer }) => b64(e.entryHash)],
  ] as const) {
    const f = file(name);
    for (let seq = manifest.first_seq; count > 0 && seq <= manifest.last_seq; seq += PAGE) {
      f.push(lines((await store.entries(seq, Math.min(manifest.last_seq, seq + PAGE - 1))).map(line)));
      yield* drain();
    }
    f.push(new Uint8Array(), true);
  }
  zip.end();
  yield* drain();
}

/** A whole pack in memory (tests and small ranges; exports stream with streamPack). */
export async function buildPack(source: PackSource, from: Date, to: Date): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of streamPack(source, from, to)) chunks.push(chunk);
  return Buffer.concat(chunks);
}
