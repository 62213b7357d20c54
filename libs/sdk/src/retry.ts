/** Retry policy: at most `retries` more attempts, waiting a full-jitter exponential backoff in between. */
export interface RetryOptions {
  /** Extra attempts after the first (default 3; 0 turns retries off). */
  retries?: number;
  /** Backoff base (default 100 ms): attempt n waits uniformly in [0, min(maxDelayMs, baseDelayMs * 2^n)). */
  baseDelayMs?: number;
  /** Backoff cap (default 2000 ms), also the longest Retry-After honoured. */
  maxDelayMs?: number;
}

export interface ResolvedRetry {
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const resolveRetry = (options: RetryOptions = {}): ResolvedRetry => ({
  retries: options.retries ?? 3,
  baseDelayMs: options.baseDelayMs ?? 100,
  maxDelayMs: options.maxDelayMs ?? 2000,
});

/**
 * "Full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"): a uniform wait up to
 * the exponential bound, so clients that failed together do not retry together. A Retry-After
 * the server sent is a floor: retrying earlier only earns another 429.
 */
export function backoffMs(attempt: number, policy: ResolvedRetry, retryAfterSeconds: number | undefined, random: () => number = Math.random): number {
  const jitter = random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  if (retryAfterSeconds === undefined) return jitter;
  return Math.max(jitter, Math.min(retryAfterSeconds * 1000, policy.maxDelayMs));
}

const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs = Date.now()): number | undefined {
  if (value === null || value === '') return undefined;
  if (/^\d{1,9}$/.test(value)) return Number(value);
  if (!IMF_FIXDATE.test(value)) return undefined;
  return Math.max(0, Math.ceil((Date.parse(value) - nowMs) / 1000));
}
