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
