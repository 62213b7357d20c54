// The contracts between the guard's middleware (signed requests, token validation) and its assurance
// parts (breaker, policy shields, receipts). Each part is built and tested on its own against these
// types; the middleware takes them as options.

export type BreakerState = 'closed' | 'open' | 'half_open';

/** One call to CTP (introspection, or the local validator's revocation feed) as the breaker sees it. */
export interface BreakerSignal {
  ok: boolean;
  latencyMs: number;
}

export interface GuardBreaker {
  readonly state: BreakerState;
  /** Whether a call to CTP may be attempted now: closed, or one of the half-open probe slots. */
  tryAcquire(now?: number): boolean;
  /** The outcome of a call that tryAcquire allowed. */
  record(signal: BreakerSignal, now?: number): void;
}

export interface RouteRef {
  method: string;
  path: string;
}

/** What the policy shields require of one request, and which policy said so. */
export interface ShieldDecision {
  requireChannelBinding: boolean;
  requireKeyBinding: boolean;
  requireHybrid: boolean;
  /** The availability floor while the breaker is open: refuse, or serve a cached local decision. */
  whenOpen: 'fail_closed' | 'degrade';
  /** The id (Cedar `@id` annotation) of the policy that decided. */
  policyId: string;
  /** sha-256 (hex) of the policy set's content, stamped on every decision and receipt. */
  policyHash: string;
}

export interface PolicyShield {
  decide(route: RouteRef, partnerId: string): ShieldDecision;
}

/** One guarded request's decision. Never a body, a token or personal data. */
export interface ReceiptInput {
  decision: 'allow' | 'deny';
  reason: string;
  method: string;
  path: string;
  /** The request's Content-Digest header value as verified, or null without a body. */
  contentDigest: string | null;
  jti: string | null;
  /** Every signature algorithm verified, e.g. ['ES256', 'ML-DSA-65']. */
  algs: string[];
  breakerState: BreakerState;
  policyId: string;
  policyHash: string;
  /** Decision time, epoch milliseconds. */
  at: number;
}

export interface ReceiptSink {
  /** Stores the receipt durably before returning its id (the response carries it). */
  record(input: ReceiptInput): string;
}
