import { strToU8, zipSync } from 'fflate';
import { PACK_FILES, PACK_FORMAT, type NoteSigner, type PackAnchor, type PackCheckpoint, type PackManifest } from '@ctp/ledger-core';
import { listAnchorsWithNotes } from './anchor';
import type { LedgerStore } from './store';
import type { LedgerWriter } from './writer';

export interface PackSource {
  store: LedgerStore;
  writer: LedgerWriter;
  signers: NoteSigner[];
  origin: string;
}

/** Per-entry inclusion proofs in a pack: all entries up to this many, else an even sample of this many. */
export const INCLUSION_SAMPLE = 1000;
const b64 = (h: Buffer) => h.toString('base64');

const README = `# CTP compliance pack

This archive lets you verify, offline and without access to the CTP service, that
the consent ledger entries it contains were recorded in an append-only log whose
state the operator signed.

Verify it with \`ctp verify pack.zip --key <verifier key>\` (pin the operator's
published verifier key; without --key the keys inside the pack are used and the
result only shows the pack is self-consistent). Or by hand:

1. verifiers.txt: the checkpoint verifier keys (C2SP signed-note vkeys:
   name+keyid+base64(type || public key); type 1 = Ed25519, 6 = ML-DSA-65).
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
6. inclusion_proofs.jsonl: RFC 9162 inclusion proofs (leaf index = seq - 1) for a
   sample of entries against the last signed checkpoint.
7. anchors.jsonl: RFC 3161 timestamp tokens (base64 DER, with the TSA's certificate
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

/** Builds a compliance pack for entries recorded in [from, to). */
export async function buildPack(source: PackSource, from: Date, to: Date): Promise<Uint8Array> {
  const { store, writer } = source;
  const range = await store.seqRange(from, to);
  let final = writer.checkpointed;
  if (range && (!final || final.size < range.last)) final = (await writer.checkpoint()) ?? writer.checkpointed;
  if (!final) throw new Error('the ledger has no signed checkpoint yet');
  const first = range?.first ?? 0;
  const last = range?.last ?? 0;

  // The chain of checkpoints from the first one that covers the range to the latest.
  const all = await store.checkpoints(range ? range.last : final.size, final.size);
  const checkpoints: PackCheckpoint[] = all.map((c, i) => ({
    size: c.size,
    previous_size: i === 0 ? null : c.previousSize,
    consistency: i === 0 ? [] : c.consistency.map(b64),
    note: c.note,
  }));

  // Anchors of every checkpoint that holds an entry of the range, each with its note
  // and a consistency proof to the final checkpoint.
  const anchored = await listAnchorsWithNotes(store.sql, Math.max(1, first), final.size, 10_000);
  const anchors: PackAnchor[] = anchored.map((a) => ({
    checkpoint_size: a.checkpointSize,
    note: a.note,
    consistency: writer.tree.consistencyProof(a.checkpointSize, final.size).map(b64),
    token: a.token.toString('base64'),
    tsa_url: a.tsaUrl,
  }));

  const entryLines: string[] = [];
  const chainLines: string[] = [];
  for (let seq = first; range && seq <= last; seq += 10_000) {
    for (const e of await store.entries(seq, Math.min(last, seq + 9_999))) {
      entryLines.push(e.canonical.toString('utf8'));
      chainLines.push(b64(e.entryHash));
    }
  }
  const count = entryLines.length;
  const step = Math.max(1, Math.ceil(count / INCLUSION_SAMPLE));
  const proofs: string[] = [];
  for (let i = 0; i < count; i += step) {
    const seq = first + i;
    proofs.push(JSON.stringify({ seq, proof: writer.tree.inclusionProof(seq - 1, final.size).map(b64) }));
  }
  const manifest: PackManifest = {
    format: PACK_FORMAT,
    origin: source.origin,
    created_at: new Date().toISOString(),
    range: { from: from.toISOString(), to: to.toISOString() },
    first_seq: first,
    last_seq: last,
    prev_entry_hash: b64(await store.hashBefore(first || 1)),
    frontier: range ? writer.tree.frontier(first - 1).map(b64) : [],
    checkpoint_size: final.size,
    range_consistency: range ? writer.tree.consistencyProof(last, final.size).map(b64) : [],
  };
  const jsonl = (rows: string[]) => strToU8(rows.map((r) => `${r}\n`).join(''));
  return zipSync({
    [PACK_FILES.readme]: strToU8(README),
    [PACK_FILES.manifest]: strToU8(`${JSON.stringify(manifest, null, 2)}\n`),
    [PACK_FILES.entries]: jsonl(entryLines),
    [PACK_FILES.chain]: jsonl(chainLines),
    [PACK_FILES.checkpoints]: jsonl(checkpoints.map((c) => JSON.stringify(c))),
    [PACK_FILES.inclusion]: jsonl(proofs),
    [PACK_FILES.verifiers]: jsonl(source.signers.map((s) => s.verifier.toString())),
    [PACK_FILES.anchors]: jsonl(anchors.map((a) => JSON.stringify(a))),
  });
}
