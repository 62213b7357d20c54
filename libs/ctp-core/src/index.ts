export { CtpError, DENY_REASON_CODES, DENY_REASONS, type DenyReason, type FieldError, type ProblemBody, type ProblemCode, PROBLEMS } from './errors';
export {
  type ContextEnvelope,
  contextEnvelopeSchema,
  FUNNEL_OUTCOMES,
  funnelEventRequestSchema,
  type FunnelOutcome,
  introspectRequestSchema,
  type IssueRequest,
  issueRequestSchema,
  parseOrThrow,
  revokeRequestSchema,
} from './envelope';
export { checkIntrospectRequest, checkIssueRequest, parseIntrospectRequest, parseIssueRequest } from './envelope_check';
export { contextHash, ContextHashMemo } from './context_hash';
export {
  buildClaims,
  CANONICAL_JTI,
  CLOCK_SKEW_SECONDS,
  type ConsentClaims,
  consentClaimsSchema,
  DEFAULT_TOKEN_TTL_SECONDS,
  MAX_TOKEN_TTL_SECONDS,
  REVOCATION_REPLAY_WINDOW_SECONDS,
  TOKEN_VERIFY_HORIZON_SECONDS,
} from './claims';
export { decodeCompactJws, decodeJwsPayload, type Es256PublicJwk, importEs256Jwk, publicJwkOf, signEs256With, verifyJwsSignature } from './jws';
export { signEs256Bytes, verifyEs256Bytes } from './es256';
export { pairwiseSubject } from './pseudonym';
export { type DecisionClaims, denyUnverified, type IntrospectionResult, validateClaims, type ValidationContext } from './validation';
export { crc32c } from './crc32c';
export { BREAKER_STATES, type GuardReceipt, guardReceiptEventId, guardReceiptSchema, MAX_RECEIPT_PATH, MAX_RECEIPTS_PER_BATCH, type ReceiptBatchRequest, receiptBatchRequestSchema, receiptEntryProblem } from './receipt';
