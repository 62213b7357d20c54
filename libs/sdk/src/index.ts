export { CtpClient, type CtpClientOptions, type FunnelEvent, type IssueOptions, type IssuedToken, type ReceiptAcknowledgement, type RevokeResult } from './client';
export { CtpApiError, TRANSPORT_ERRORS, type CtpApiErrorCode, type TransportErrorCode } from './errors';
export { backoffMs, parseRetryAfter, type RetryOptions } from './retry';
export { TokenCache, type TokenCacheOptions } from './token_cache';
export { consentEnvelope, envelopeHashOf } from './envelope';
export { CONSENT_STATES, type ConsentState } from './consent_state';
export { createLocalValidator, type LocalValidator, type LocalValidatorOptions } from './local_validator';
export { RevocationFollower, type RevocationFollowerOptions } from './revocation_follower';
export {
  contextHash,
  CtpError,
  DENY_REASONS,
  FUNNEL_OUTCOMES,
  PROBLEMS,
  type ContextEnvelope,
  type DenyReason,
  type FunnelOutcome,
  type IntrospectionResult,
  type ProblemCode,
} from '@ctp/ctp-core';
export { contentDigestOf, signatureHeaders, signedRequest, signingKeyThumbprint, type RequestSigningKey, type SignedRequestInit, type SignedRequestOptions, type SignedResponse } from './signed_request';
