import { clockOffset } from '@ctp/telemetry';
import type { ReadinessCheck } from './app';

/** Readiness fails when this process and its peers disagree on the time by more than this. */
export const MAX_CLOCK_OFFSET_SECONDS = 30;

export interface ClockCheckOptions {
  /** The peers' clock in seconds since the epoch (Redis TIME). */
  peerTime: () => Promise<number>;
  /** This process's clock in ms since the epoch; tests inject a skewed one. */
  now?: () => number;
  maxOffsetSeconds?: number;
  /** A measurement is reused this long, so /readyz stays one cheap call. */
  cacheMs?: number;
  /** Round trips longer than this say nothing useful about the offset and are discarded. */
  maxRttMs?: number;
  onError?: (error: unknown) => void;
}

export interface ClockMeasurement {
  /** Peer time minus local time at the midpoint of the round trip, in seconds. */
  offsetSeconds: number;
  rttMs: number;
}

/** One NTP-style sample: the peer read its clock somewhere between t0 and t1. */
export async function measureClockOffset(peerTime: () => Promise<number>, now: () => number = Date.now): Promise<ClockMeasurement> {
  const t0 = now();
  const peer = await peerTime();
  const t1 = now();
  return { offsetSeconds: peer - (t0 + t1) / 2000, rttMs: t1 - t0 };
}

/**
 * The `clock` readiness check: not ready when |offset| exceeds the limit by more than the
 * measurement's own uncertainty (half the round trip). A failed or too-slow measurement
 * keeps the last verdict (the peer's reachability is other checks' business) and is
 * retried on the next call.
 */
export function clockCheck(options: ClockCheckOptions): ReadinessCheck {
  const now = options.now ?? Date.now;
  const maxOffset = options.maxOffsetSeconds ?? MAX_CLOCK_OFFSET_SECONDS;
  const cacheMs = options.cacheMs ?? 5_000;
  const maxRttMs = options.maxRttMs ?? 2_000;
  let verdict = true;
  let measuredAt = -Infinity;
  let inflight: Promise<boolean> | undefined;
  const measure = async () => {
    try {
      const sample = await measureClockOffset(options.peerTime, now);
      if (sample.rttMs > maxRttMs) return verdict;
      clockOffset.set(sample.offsetSeconds);
      verdict = Math.abs(sample.offsetSeconds) - sample.rttMs / 2000 <= maxOffset;
      measuredAt = performance.now();
    } catch (error) {
      options.onError?.(error);
    }
    return verdict;
  };
  return () => {
    if (performance.now() - measuredAt < cacheMs) return verdict;
    inflight ??= measure().finally(() => (inflight = undefined));
    return inflight;
  };
}
