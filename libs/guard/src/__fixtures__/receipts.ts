import type { ReceiptInput } from '../contracts';

/** A well-formed receipt input (tests and the receipt store's crash test child). */
export const sampleReceipt = (over: Partial<ReceiptInput> = {}): ReceiptInput => ({
  decision: 'allow',
  reason: 'ok',
  method: 'POST',
  path: '/v1/infer',
  contentDigest: 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:',
  jti: '0b7c6d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e',
  algs: ['ES256', 'ML-DSA-65'],
  breakerState: 'closed',
  policyId: 'binding.writes-channel,binding.writes-key',
  policyHash: 'a'.repeat(64),
  at: 1_765_000_000_000,
  ...over,
});
