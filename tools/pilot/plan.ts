// The pilot's plan (the spec's `plan.py`): breaker thresholds, induced faults, traffic per day. Versioned
// in the repository so change control sees every edit; the CBOM records the commit the pilot ran from.
import type { BreakerOptions } from '@ctp/guard';
import type { Faults } from '@ctp/testing';

/**
 * The breaker around CTP during the pilot: the guard's hysteresis breaker with its error thresholds kept
 * (open at 50% errors, close at 10%), latency thresholds raised (open at 500 ms, close at 200 ms) so a
 * busy shared machine at baseline does not trip it, its clocks shortened so five days fit in minutes
 * (dwell, ejection), and a smoothing that reacts within a few requests.
 */
export const PILOT_BREAKER: Partial<Omit<BreakerOptions, 'name' | 'onTransition'>> = {
  alpha: 0.3,
  openLatencyMs: 500,
  closeLatencyMs: 200,
  minSamples: 5,
  dwellMs: { closed: 2_000, open: 1_000, half_open: 500 },
  probes: 3,
  baseEjectionMs: 1_500,
  maxEjectionMs: 10_000,
  ejectionDecayMs: 30_000,
};

/** A flap: the breaker opening again within this long after it closed. */
export const FLAP_WINDOW_MS = 5_000;

/** Induced faults on the processor's connections to CTP (through the fault proxy). */
export const FAULTS: Record<'latency' | 'bandwidth', Partial<Faults>> = {
  /** 700 ms one way each direction: introspection takes ~1.4 s. */
  latency: { latencyMs: 700 },
  /** 600 bytes/s each direction: an introspection round trip (token, answer) takes seconds. */
  bandwidth: { bandwidthBytesPerSec: 600 },
};

/** Bounded traffic: each worker starts at most one request per this many ms (refusals are instant). */
export const PACE_MS = 50;

export interface PilotScale {
  /** Day 1: signed requests at baseline; binding mismatches tried. */
  baselineRequests: number;
  mismatches: number;
  /** Day 2: hybrid requests. */
  hybridRequests: number;
  /** Day 3: seconds per phase (baseline, latency, recovery, bandwidth, recovery). */
  phaseSeconds: { baseline: number; fault: number; recovery: number };
  /** Requests in flight at once while a phase runs. */
  concurrency: number;
  /** Day 4: receipts sampled for inclusion proofs. */
  sampledReceipts: number;
  /** Day 5: seconds of the fallback (relax) phase. */
  relaxSeconds: number;
}

export const SCALES: Record<'quick' | 'full', PilotScale> = {
  quick: { baselineRequests: 60, mismatches: 6, hybridRequests: 3, phaseSeconds: { baseline: 3, fault: 6, recovery: 7 }, concurrency: 3, sampledReceipts: 10, relaxSeconds: 6 },
  full: { baselineRequests: 300, mismatches: 20, hybridRequests: 10, phaseSeconds: { baseline: 8, fault: 12, recovery: 10 }, concurrency: 4, sampledReceipts: 50, relaxSeconds: 12 },
};
