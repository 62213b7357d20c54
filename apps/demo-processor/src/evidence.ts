import { NoteVerifier, openNote, parseCheckpoint, verifyInclusion } from '@ctp/ledger-core';

/** GET /receipts/{id}'s answer (openapi ReceiptEvidence), as far as a verifier reads it. */
export interface ReceiptEvidence {
  receipt: { id: string; algs: string[]; decision: string; breaker_state: string; policy_id: string; policy_hash: string } & Record<string, unknown>;
  ledger: { entry: unknown; leaf_hash: string };
  inclusion: { leaf_index: number; tree_size: number; leaf_hash: string; proof: string[] } | null;
  checkpoint: { size: number; root: string; note: string } | null;
}

const b64 = (s: string) => Buffer.from(s, 'base64');

/** A receipt's evidence from CTP (the partner's own receipts only), or null while it is not under a signed checkpoint yet. */
export async function fetchReceiptEvidence(ctpUrl: string, id: string, apiKey?: string): Promise<ReceiptEvidence | null> {
  const res = await fetch(`${ctpUrl}/receipts/${encodeURIComponent(id)}`, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`GET /receipts/${id} answered HTTP ${res.status}`);
  const evidence = (await res.json()) as ReceiptEvidence;
  return evidence.inclusion && evidence.checkpoint ? evidence : null;
}

/**
 * What a security lead checks, independently of CTP's word: the checkpoint note is signed by the
 * pinned ledger key(s) (`vkeys`, from GET /ledger/verifiers), names the root the proof ends in, and
 * the receipt's leaf is included in that tree. Throws on a bad signature; false on a bad proof.
 */
export function verifyReceiptEvidence(evidence: ReceiptEvidence, vkeys: readonly string[]): boolean {
  const { inclusion, checkpoint } = evidence;
  if (!inclusion || !checkpoint || vkeys.length === 0) return false;
  const { text } = openNote(checkpoint.note, vkeys.map((k) => NoteVerifier.parse(k)));
  const signed = parseCheckpoint(text);
  if (signed.size !== checkpoint.size || signed.root.toString('base64') !== checkpoint.root) return false;
  if (inclusion.tree_size !== checkpoint.size || inclusion.leaf_hash !== evidence.ledger.leaf_hash) return false;
  return verifyInclusion(inclusion.leaf_index, inclusion.tree_size, b64(inclusion.leaf_hash), inclusion.proof.map(b64), b64(checkpoint.root));
}
