import { z } from 'zod';
import { CANONICAL_JTI } from './claims';

/** Receipts per POST /receipts call. */
export const MAX_RECEIPTS_PER_BATCH = 100;
export const MAX_RECEIPT_PATH = 2048;
export const BREAKER_STATES = ['closed', 'open', 'half_open'] as const;

/**
 * A guard receipt as it travels from a partner's guard to CTP's ledger (POST /receipts) and as
 * the guard stores it locally: one guarded request's decision, never a body, a token or personal
 * data (the path only, without its query). `id` is the guard's own UUID for it.
 */
export const guardReceiptSchema = z.strictObject({
  id: z.uuid({ message: 'a UUID such as c0b3e1f8-4567-4890-abcd-1234567890ab' }).transform((id) => id.toLowerCase()),
  decision: z.enum(['allow', 'deny']),
  reason: z.string().min(1).max(64).regex(/^[a-z][a-z0-9_.-]*$/, 'a lowercase reason code, e.g. ok or signature_invalid'),
  method: z.string().min(1).max(16).regex(/^[A-Z]+$/, 'an upper-case HTTP method'),
  path: z.string().min(1).max(MAX_RECEIPT_PATH).regex(/^\/[\x21\x22\x24-\x3e\x40-\x7e]*$/, 'an absolute path of printable ASCII, without a query or fragment'),
  content_digest: z.string().max(512).regex(/^[\x20-\x7e]*$/, 'the Content-Digest header value').nullable(),
  jti: z.string().regex(CANONICAL_JTI, 'a lowercase UUID').nullable(),
  algs: z.array(z.string().min(1).max(32).regex(/^[A-Za-z0-9_-]+$/, 'a JOSE algorithm name, e.g. ES256 or ML-DSA-65')).max(8),
  breaker_state: z.enum(BREAKER_STATES),
  policy_id: z.string().min(1).max(512).regex(/^[\x21-\x7e]+$/, 'the deciding policy ids'),
  policy_hash: z.string().regex(/^[0-9a-f]{64}$/, 'a sha-256 in lowercase hex'),
  /** Decision time, ms since the epoch. */
  at: z.number().int().min(0).max(8_640_000_000_000_000),
});
export type GuardReceipt = z.infer<typeof guardReceiptSchema>;

/** POST /receipts body: a batch of the guard's receipts, each idempotent by its id. */
export const receiptBatchRequestSchema = z.strictObject({
  receipts: z.array(guardReceiptSchema).min(1).max(MAX_RECEIPTS_PER_BATCH),
});
export type ReceiptBatchRequest = z.infer<typeof receiptBatchRequestSchema>;

/** The ledger and bus id of a receipt: the guard's receipt id within the partner's namespace, so a re-forwarded receipt is stored once. */
export const guardReceiptEventId = (partnerId: string, receiptId: string) => `guard.receipt:${partnerId}:${receiptId.toLowerCase()}`;

/**
 * Checks a `guard.receipt` ledger entry (its event id and data): a well-formed receipt (as POST /receipts
 * takes it) whose event id is its receipt id in its partner's namespace. Returns what is wrong, or
 * null. `ctp verify` runs it on every receipt in a compliance pack.
 */
export function receiptEntryProblem(eventId: string, data: Record<string, unknown>): string | null {
  const { receipt_id, partner_id, received_at_ms, ...fields } = data;
  if (typeof partner_id !== 'string' || partner_id === '') return 'partner_id is missing';
  if (typeof receipt_id !== 'string' || receipt_id !== receipt_id.toLowerCase()) return 'receipt_id is missing or not lowercase';
  if (!Number.isSafeInteger(received_at_ms)) return 'received_at_ms is not an integer';
  if (eventId !== guardReceiptEventId(partner_id, receipt_id)) return `event_id ${eventId} is not guard.receipt:<partner_id>:<receipt_id>`;
  const parsed = guardReceiptSchema.safeParse({ id: receipt_id, ...fields });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return `${issue.path.join('.') || 'receipt'}: ${issue.message}`;
  }
  return null;
}
