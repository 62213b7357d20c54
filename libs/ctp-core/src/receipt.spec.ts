import { guardReceiptEventId, guardReceiptSchema, receiptBatchRequestSchema, receiptEntryProblem } from './receipt';

const receipt = {
  id: '0b7c6d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e',
  decision: 'deny',
  reason: 'binding_mismatch',
  method: 'POST',
  path: '/v1/infer',
  content_digest: null,
  jti: null,
  algs: ['Ed25519'],
  breaker_state: 'half_open',
  policy_id: 'default',
  policy_hash: 'f'.repeat(64),
  at: 1,
};

describe('guard receipts (wire schema and ledger entry check)', () => {
  it('takes a receipt id in any case and stores it lowercase; refuses unknown fields and queries', () => {
    expect(guardReceiptSchema.parse({ ...receipt, id: receipt.id.toUpperCase() }).id).toBe(receipt.id);
    expect(guardReceiptSchema.safeParse({ ...receipt, body: 'x' }).success).toBe(false);
    expect(guardReceiptSchema.safeParse({ ...receipt, path: '/a#frag' }).success).toBe(false);
    expect(receiptBatchRequestSchema.safeParse({ receipts: Array(101).fill(receipt) }).success).toBe(false);
  });

  it('checks a ledger entry: well-formed, under its partner id', () => {
    const { id, ...fields } = receipt;
    const data = { receipt_id: id, partner_id: 'acme', received_at_ms: 2, ...fields };
    expect(receiptEntryProblem(guardReceiptEventId('acme', id), data)).toBeNull();
    expect(receiptEntryProblem(guardReceiptEventId('globex', id), data)).toMatch(/event_id .* is not guard.receipt/);
    expect(receiptEntryProblem(guardReceiptEventId('acme', id), { ...data, decision: 'maybe' })).toMatch(/^decision:/);
    expect(receiptEntryProblem(guardReceiptEventId('acme', id), { ...data, email: 'a@b.c' })).toMatch(/email/);
    expect(receiptEntryProblem(guardReceiptEventId('acme', id), { ...data, received_at_ms: 'soon' })).toMatch(/received_at_ms/);
  });
});
