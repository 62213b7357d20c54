/**
 * Every way a ledger artefact (a compliance pack, a sealed segment, a run of stored
 * entries, a signed checkpoint) can fail verification, with what it means. One name
 * per failure, whoever finds it; docs/ledger.md lists the same codes (checked by
 * apps/ctp/src/docs.spec.ts).
 */
export const LEDGER_VERIFICATION_CODES = {
  unreadable: 'not a readable zip or segment (truncated, corrupt, or a feature CTP does not write), or the file cannot be read',
  duplicate_member: 'the zip names the same file twice',
  too_large: 'a file or line inflates beyond what CTP ever writes (a zip bomb, or not a CTP file)',
  missing_file: 'a file the format requires is missing',
  bad_manifest: 'the manifest is not JSON or not as the format describes',
  truncated: 'a JSON-lines file does not end in a newline',
  bad_key: 'a verifier key (verifiers.txt or --key) is not a signed-note vkey',
  no_checkpoint: 'the pack holds no signed checkpoint',
  bad_signature: 'a checkpoint note is not signed by every trusted key, or a signature does not verify',
  wrong_origin: 'a checkpoint is for another log (origin)',
  bad_checkpoint: 'a checkpoint line or note body is malformed, or its size differs from what names it',
  inconsistent_checkpoints: 'a checkpoint is not consistent with the one before it (a forked history)',
  entry_count: 'the number of entries differs from the stated range (entries dropped or added)',
  bad_entry: 'an entry is not JSON or not in RFC 8785 canonical form (altered)',
  entry_order: 'an entry is not the next seq (dropped, reordered or inserted entries)',
  out_of_range: 'an entry was recorded outside the pack time range',
  broken_chain: 'an entry hash is not SHA-256(previous entry hash || entry)',
  bad_leaf: 'a stored Merkle leaf hash is not the leaf hash of its entry',
  digest_mismatch: 'a segment data file does not match its manifest digest',
  bad_frontier: 'the frontier (subtree hashes left of the range) does not fit the first seq',
  not_in_checkpoint: 'the entries are not contained in the signed checkpoint (Merkle root not consistent)',
  bad_inclusion_proof: 'an inclusion proof does not verify against the signed checkpoint',
  incomplete_range: 'the pack does not prove that no entry of its time range is missing at either edge',
  bad_receipt: 'a guard receipt entry (`guard.receipt`) is not a well-formed receipt, or its event id is not its receipt id in its partner\'s namespace',
  bad_anchor: 'an RFC 3161 anchor does not verify',
  bad_tsa_root: 'the pinned TSA root file holds no PEM certificate',
} as const;

export type LedgerVerificationCode = keyof typeof LEDGER_VERIFICATION_CODES;

/** A ledger artefact failed verification: `code` names the failure, `seq` the entry when one is at fault. */
export class LedgerVerificationError extends Error {
  readonly seq: number | undefined;

  constructor(
    readonly code: LedgerVerificationCode,
    message: string,
    options: { seq?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LedgerVerificationError';
    this.seq = options.seq;
  }
}

export function failVerification(code: LedgerVerificationCode, message: string, options?: { seq?: number; cause?: unknown }): never {
  throw new LedgerVerificationError(code, message, options);
}
