/**
 * The one registry of stable error codes. The same strings appear in /introspect
 * `reason`, the `ctp_validation_errors_total{reason}` label, problem `code`s,
 * the OpenAPI spec and docs/errors.md. Never rename a code: partners branch on it.
 */

/** Why /introspect answered `decision: "deny"`. */
export const DENY_REASONS = {
  malformed: 'The token is not a compact JWS whose header and payload are base64url-encoded JSON objects.',
  oversized: 'The token is longer than the maximum token length (4096 characters).',
  alg_not_allowed: 'The token header names an algorithm other than ES256.',
  crit_unsupported: 'The token header lists critical extensions (crit) this verifier does not implement.',
  unknown_kid: 'No key published in the JWKS has the token header kid.',
  key_revoked: 'The key named by the token header kid was revoked in an emergency (key compromise); none of its tokens are accepted.',
  bad_signature: 'The ES256 signature does not verify against the key named by kid.',
  invalid_claims: 'A required claim is missing or has the wrong type.',
  issuer_mismatch: 'The iss claim is not this deployment issuer.',
  audience_mismatch: 'The aud claim differs from context_envelope.processor.',
  expired: 'The token expired (exp plus the 60 s clock skew has passed).',
  not_yet_valid: 'The token was issued in the future (iat or nbf beyond the 60 s clock skew).',
  lifetime_exceeded: 'The token claims a lifetime (exp - iat) longer than the 300 s maximum, which no token of this issuer has.',
  revoked: 'Consent for this jti was revoked.',
  revocation_unavailable: 'This verifier cannot currently prove its revocation list is fresh, so it denies (fail closed).',
  purpose_mismatch: 'The purpose claim differs from context_envelope.purpose.',
  scope_insufficient: 'context_envelope.features asks for a feature the scope claim does not grant.',
  context_mismatch: 'The context_hash claim differs from the hash of context_envelope.',
} as const;

export type DenyReason = keyof typeof DENY_REASONS;
export const DENY_REASON_CODES = Object.keys(DENY_REASONS) as DenyReason[];

/** HTTP problem codes (RFC 9457 bodies carry them as `code`, and `type` = PROBLEM_TYPE_PREFIX + code). */
export const PROBLEMS = {
  invalid_json: { status: 400, title: 'Request body is not valid JSON' },
  invalid_encoding: { status: 400, title: 'Request body is not valid UTF-8' },
  validation_failed: { status: 400, title: 'Request body failed validation' },
  content_digest_mismatch: { status: 400, title: 'Content-Digest is missing or does not match the body' },
  unauthenticated: { status: 401, title: 'A valid partner credential is required' },
  signature_required: { status: 401, title: 'This route needs a signed request: sign it with the nonce of this challenge' },
  signature_invalid: { status: 401, title: 'The request signature is missing something or does not verify' },
  nonce_invalid: { status: 401, title: 'The signature nonce is unknown, expired or already used' },
  hybrid_signature_required: { status: 401, title: 'This route needs a second, ML-DSA-65 signature beside the classical one' },
  approval_signature_invalid: { status: 401, title: 'The operator signature does not verify over the key change statement' },
  operator_unknown: { status: 403, title: 'The operator is not in the operators file' },
  approval_expired: { status: 403, title: 'The key change approval has expired' },
  channel_binding_mismatch: { status: 403, title: 'The signed TLS channel binding does not match this connection' },
  key_binding_mismatch: { status: 403, title: 'The consent token is bound to another key than the one that signed the request' },
  processor_not_allowed: { status: 403, title: 'The partner may not request consent for this processor' },
  not_token_owner: { status: 403, title: 'The token was issued to another partner' },
  not_found: { status: 404, title: 'No such resource' },
  method_not_allowed: { status: 405, title: 'Method not allowed on this resource' },
  approval_duplicate: { status: 409, title: 'This operator already approved this key change' },
  key_change_conflict: { status: 409, title: 'The key change conflicts with an existing change or the current key state' },
  idempotency_key_in_progress: { status: 409, title: 'A request with this Idempotency-Key is still being processed; retry after the Retry-After interval' },
  cursor_expired: { status: 410, title: 'The cursor is older than the retained revocations; resume from 0' },
  body_too_large: { status: 413, title: 'Request body is too large' },
  unsupported_media_type: { status: 415, title: 'Request body must be application/json' },
  idempotency_key_reused: { status: 422, title: 'This Idempotency-Key was already used with a different request body' },
  rate_limited: { status: 429, title: 'Too many requests from this partner; retry after the Retry-After interval' },
  too_many_streams: { status: 429, title: 'This partner already holds as many open push streams as it may' },
  unavailable: { status: 503, title: 'A dependency is unavailable; nothing was changed' },
  internal: { status: 500, title: 'Internal error' },
} as const;

export type ProblemCode = keyof typeof PROBLEMS;
export const PROBLEM_TYPE_PREFIX = 'urn:ctp:problem:';

/** One field-level finding: which field, which rule it broke, in words. */
export interface FieldError {
  field: string;
  rule: string;
  message: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  errors?: FieldError[];
}

/** Typed error with a stable code; services turn it into an application/problem+json response. */
export class CtpError extends Error {
  readonly code: ProblemCode;
  readonly status: number;
  readonly errors: FieldError[] | undefined;

  constructor(code: ProblemCode, detail: string, options: { errors?: FieldError[]; cause?: unknown } = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CtpError';
    this.code = code;
    this.status = PROBLEMS[code].status;
    this.errors = options.errors;
  }

  toProblem(): ProblemBody {
    const body: ProblemBody = {
      type: PROBLEM_TYPE_PREFIX + this.code,
      title: PROBLEMS[this.code].title,
      status: this.status,
      detail: this.message,
      code: this.code,
    };
    if (this.errors && this.errors.length > 0) body.errors = this.errors;
    return body;
  }
}
