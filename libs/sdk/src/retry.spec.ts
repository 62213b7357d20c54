import { backoffMs, parseRetryAfter, resolveRetry } from './retry';

describe('retry backoff', () => {
  const policy = resolveRetry({ baseDelayMs: 100, maxDelayMs: 2000 });

  it('waits uniformly below the exponential bound (full jitter), capped', () => {
    expect(backoffMs(0, policy, undefined, () => 0.999)).toBeCloseTo(99.9);
    expect(backoffMs(3, policy, undefined, () => 0.5)).toBe(400);
    expect(backoffMs(10, policy, undefined, () => 0.999)).toBeCloseTo(1998);
    expect(backoffMs(2, policy, undefined, () => 0)).toBe(0);
  });

  it('never retries before Retry-After, and honours it only up to the cap', () => {
    expect(backoffMs(0, policy, 1, () => 0.1)).toBe(1000);
    expect(backoffMs(5, policy, 1, () => 0.9)).toBe(1800);
    expect(backoffMs(0, policy, 30, () => 0.1)).toBe(2000);
  });

  it('reads Retry-After as seconds or an HTTP date, and ignores anything else', () => {
    expect(parseRetryAfter('3')).toBe(3);
    expect(parseRetryAfter(new Date(Date.UTC(2026, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2026, 0, 1, 0, 0, 0))).toBe(10);
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:00:00 GMT', Date.now())).toBe(0);
    for (const bad of [null, '', 'soon', '-1', '1.5']) expect(parseRetryAfter(bad)).toBeUndefined();
  });
});
