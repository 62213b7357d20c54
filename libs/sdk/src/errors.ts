import { PROBLEMS, type FieldError, type ProblemBody, type ProblemCode } from '@ctp/ctp-core';

/**
 * Failures the SDK sees before CTP answers (no problem body exists): `timeout` (no answer
 * within `timeoutMs`), `network` (connection refused, reset, DNS), `invalid_response` (an
 * answer that is not the documented JSON).
 */
export const TRANSPORT_ERRORS = {
  timeout: 'CTP did not answer within the timeout.',
  network: 'The connection to CTP failed (refused, reset or not resolvable).',
  invalid_response: 'CTP answered with a body that is not the documented JSON.',
} as const;
export type TransportErrorCode = keyof typeof TRANSPORT_ERRORS;

/** Every code a CtpApiError carries: CTP's problem codes (libs/ctp-core errors registry) or a transport failure. */
export type CtpApiErrorCode = ProblemCode | TransportErrorCode;

const isProblemCode = (code: unknown): code is ProblemCode => typeof code === 'string' && Object.hasOwn(PROBLEMS, code);

/** A call to CTP failed: a problem answer (RFC 9457) or a transport failure, with a stable `code`. */
export class CtpApiError extends Error {
  readonly code: CtpApiErrorCode;
  /** HTTP status of a problem answer; undefined for transport failures. */
  readonly status: number | undefined;
  readonly errors: FieldError[] | undefined;
  /** Seconds CTP asked to wait (Retry-After), when it said. */
  readonly retryAfterSeconds: number | undefined;
  /** How many attempts were made, retries included. */
  readonly attempts: number;

  constructor(code: CtpApiErrorCode, message: string, options: { status?: number; errors?: FieldError[]; retryAfterSeconds?: number; attempts?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CtpApiError';
    this.code = code;
    this.status = options.status;
    this.errors = options.errors;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.attempts = options.attempts ?? 1;
  }

  /** Builds the error for a problem answer; an unknown or missing code becomes `invalid_response`. */
  static fromProblem(status: number, body: unknown, retryAfterSeconds: number | undefined): CtpApiError {
    const problem = (typeof body === 'object' && body !== null ? body : {}) as Partial<ProblemBody>;
    if (!isProblemCode(problem.code)) {
      return new CtpApiError('invalid_response', `CTP answered HTTP ${status} without a problem code`, { status, retryAfterSeconds });
    }
    return new CtpApiError(problem.code, typeof problem.detail === 'string' ? problem.detail : PROBLEMS[problem.code].title, {
      status,
      errors: Array.isArray(problem.errors) ? problem.errors : undefined,
      retryAfterSeconds,
    });
  }
}
