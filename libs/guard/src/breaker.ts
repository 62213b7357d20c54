import { Counter, Gauge, register as defaultRegistry, type Registry } from 'prom-client';
import type { BreakerSignal, BreakerState, GuardBreaker } from './contracts';

/**
 * A breaker around the guard's dependency on CTP that does not flap.
 *
 * - The signal is smoothed: an exponentially weighted moving average (EWMA) of the error rate
 *   (1 per failed call, 0 per good one) and of the latency.
 * - Hysteresis: the breaker opens when a smoothed value reaches its open threshold; it closes only
 *   once the smoothed values are back at or below the (lower) close thresholds. A signal that stays
 *   between the two thresholds never moves the breaker.
 * - Minimum dwell: no transition leaves a state before `dwell[state]` has elapsed in it.
 * - Half-open probes: after the ejection time, `probes` calls at a time may go through; `probes`
 *   good ones (at or below the close thresholds) are needed, with the smoothed signal back under the
 *   close thresholds, before closing. A bad probe (at or above an open threshold) reopens at once.
 *   A probe between the thresholds counts neither way.
 * - Ejection time grows with repeated opens, as Envoy's outlier detection does:
 *   `min(baseEjectionMs * opens, maxEjectionMs)`; `opens` falls back by one for every
 *   `ejectionDecayMs` spent closed.
 */
export interface BreakerOptions {
  /** Names this breaker in the metrics (`breaker` label). */
  name: string;
  /** EWMA weight of the newest sample, in (0, 1]. */
  alpha: number;
  /** Smoothed error rate (0..1) at or above which the breaker opens. */
  openErrorRate: number;
  /** Smoothed error rate at or below which the breaker may close; below openErrorRate. */
  closeErrorRate: number;
  /** Smoothed latency (ms) at or above which the breaker opens. */
  openLatencyMs: number;
  /** Smoothed latency (ms) at or below which the breaker may close; below openLatencyMs. */
  closeLatencyMs: number;
  /** Samples needed in the closed state before the smoothed signal may open the breaker. */
  minSamples: number;
  /** Minimum time (ms) in each state before leaving it. */
  dwellMs: Record<BreakerState, number>;
  /** Good half-open probes needed before closing (also the number of probes in flight at once). */
  probes: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  /** Time (ms) spent closed that forgives one past open in the ejection multiplier. */
  ejectionDecayMs: number;
  /** Epoch milliseconds; injectable for tests. */
  clock?: () => number;
  /** Where the metrics are registered (prom-client's default registry unless given). */
  registry?: Registry;
  /** Called on every transition, after the metrics are updated. */
  onTransition?: (t: BreakerTransition) => void;
}

export interface BreakerTransition {
  from: BreakerState;
  to: BreakerState;
  at: number;
  /** Why: `error_rate` or `latency` (open), `ejection_elapsed` (half-open), `probe_failed`, `recovered`. */
  reason: string;
  errorRate: number;
  latencyMs: number;
}

export interface BreakerSnapshot {
  state: BreakerState;
  enteredAt: number;
  errorRate: number;
  latencyMs: number;
  samples: number;
  opens: number;
  /** Ejection time of the current (or last) open, ms. */
  ejectionMs: number;
  probesInFlight: number;
  goodProbes: number;
}

/** Defaults sized for a dependency answering in a few ms (the guard calling CTP on a LAN). */
export const DEFAULT_BREAKER_OPTIONS: Omit<BreakerOptions, 'name'> = {
  alpha: 0.1,
  openErrorRate: 0.5,
  closeErrorRate: 0.1,
  openLatencyMs: 250,
  closeLatencyMs: 100,
  minSamples: 10,
  dwellMs: { closed: 5_000, open: 2_000, half_open: 1_000 },
  probes: 5,
  baseEjectionMs: 5_000,
  maxEjectionMs: 300_000,
  ejectionDecayMs: 60_000,
};

const STATES: readonly BreakerState[] = ['closed', 'open', 'half_open'];

interface BreakerMetrics {
  state: Gauge<'breaker' | 'state'>;
  transitions: Counter<'breaker' | 'from' | 'to'>;
  timeInState: Counter<'breaker' | 'state'>;
  live: Map<string, HysteresisBreaker>;
}

const metricsByRegistry = new WeakMap<Registry, BreakerMetrics>();

function breakerMetrics(registry: Registry): BreakerMetrics {
  const existing = metricsByRegistry.get(registry);
  if (existing) return existing;
  const live = new Map<string, HysteresisBreaker>();
  const metrics: BreakerMetrics = {
    live,
    state: new Gauge({
      name: 'ctp_guard_breaker_state',
      help: "1 for the guard breaker's current state (closed, open, half_open), 0 for the others.",
      labelNames: ['breaker', 'state'] as const,
      registers: [registry],
    }),
    transitions: new Counter({
      name: 'ctp_guard_breaker_transitions_total',
      help: 'Guard breaker state transitions, by breaker, from and to state.',
      labelNames: ['breaker', 'from', 'to'] as const,
      registers: [registry],
    }),
    timeInState: new Counter({
      name: 'ctp_guard_breaker_state_seconds_total',
      help: 'Time the guard breaker has spent in each state, up to the scrape.',
      labelNames: ['breaker', 'state'] as const,
      registers: [registry],
      // The state being lived in is counted up to now at every scrape.
      collect() {
        for (const breaker of live.values()) breaker.accrue();
      },
    }),
  };
  metricsByRegistry.set(registry, metrics);
  return metrics;
}

export class HysteresisBreaker implements GuardBreaker {
  private readonly opts: Required<Omit<BreakerOptions, 'registry' | 'onTransition'>> & Pick<BreakerOptions, 'onTransition'>;
  private readonly metrics: BreakerMetrics;
  private current: BreakerState = 'closed';
  private enteredAt: number;
  /** Time in the current state already added to the time-in-state counter. */
  private accruedTo: number;
  private errorRate = 0;
  private latencyMs = 0;
  private samples = 0;
  private opens = 0;
  private closedSince: number;
  private ejectionMs = 0;
  private probesInFlight = 0;
  private goodProbes = 0;

  constructor(options: Partial<BreakerOptions> & Pick<BreakerOptions, 'name'>) {
    const opts = { ...DEFAULT_BREAKER_OPTIONS, clock: Date.now, ...options };
    validate(opts);
    this.opts = opts;
    this.metrics = breakerMetrics(options.registry ?? defaultRegistry);
    const now = opts.clock();
    this.enteredAt = this.accruedTo = this.closedSince = now;
    this.metrics.live.set(opts.name, this);
    for (const state of STATES) {
      this.metrics.state.set({ breaker: opts.name, state }, state === 'closed' ? 1 : 0);
      this.metrics.timeInState.inc({ breaker: opts.name, state }, 0);
    }
  }

  get state(): BreakerState {
    this.advance(this.opts.clock());
    return this.current;
  }

  /** The breaker's whole state, for the middleware (relax mode) and for tests. */
  snapshot(now = this.opts.clock()): BreakerSnapshot {
    this.advance(now);
    return {
      state: this.current,
      enteredAt: this.enteredAt,
      errorRate: this.errorRate,
      latencyMs: this.latencyMs,
      samples: this.samples,
      opens: this.opens,
      ejectionMs: this.ejectionMs,
      probesInFlight: this.probesInFlight,
      goodProbes: this.goodProbes,
    };
  }

  tryAcquire(now = this.opts.clock()): boolean {
    this.advance(now);
    if (this.current === 'closed') return true;
    if (this.current === 'open') return false;
    if (this.probesInFlight >= this.opts.probes) return false;
    this.probesInFlight++;
    return true;
  }

  record(signal: BreakerSignal, now = this.opts.clock()): void {
    this.advance(now);
    const o = this.opts;
    if (this.current === 'open') return; // a call acquired before the breaker opened: already judged
    this.smooth(signal);
    if (this.current === 'closed') {
      this.decayOpens(now);
      if (this.samples < o.minSamples || now - this.enteredAt < o.dwellMs.closed) return;
      const reason = this.errorRate >= o.openErrorRate ? 'error_rate' : this.latencyMs >= o.openLatencyMs ? 'latency' : null;
      if (reason) this.open(now, reason);
      return;
    }
    // half_open: judge the probe by the raw sample, close on the smoothed signal.
    this.probesInFlight = Math.max(0, this.probesInFlight - 1);
    if (!signal.ok || signal.latencyMs >= o.openLatencyMs) {
      this.open(now, 'probe_failed');
      return;
    }
    if (signal.latencyMs <= o.closeLatencyMs) this.goodProbes++;
    if (
      this.goodProbes >= o.probes &&
      this.errorRate <= o.closeErrorRate &&
      this.latencyMs <= o.closeLatencyMs &&
      now - this.enteredAt >= o.dwellMs.half_open
    ) {
      this.transition('closed', now, 'recovered');
      this.closedSince = now;
    }
  }

  /**
   * Runs `call` if the breaker allows it, timing it and recording the outcome: a throw (rethrown)
   * or `isOk(value) === false` is an error. Resolves `{ ran: false }` without calling when the
   * breaker refuses: the caller then applies the route's availability floor (fail closed, or a
   * cached local decision no older than the revocation pull interval).
   */
  async run<T>(call: () => Promise<T>, isOk: (value: T) => boolean = () => true): Promise<{ ran: true; value: T } | { ran: false }> {
    if (!this.tryAcquire()) return { ran: false };
    const started = performance.now();
    let value: T;
    try {
      value = await call();
    } catch (error) {
      this.record({ ok: false, latencyMs: performance.now() - started });
      throw error;
    }
    this.record({ ok: isOk(value), latencyMs: performance.now() - started });
    return { ran: true, value };
  }

  /** Adds the time lived in the current state, up to now, to the time-in-state counter. */
  accrue(now = this.opts.clock()): void {
    if (now > this.accruedTo) {
      this.metrics.timeInState.inc({ breaker: this.opts.name, state: this.current }, (now - this.accruedTo) / 1000);
      this.accruedTo = now;
    }
  }

  /** Stops reporting this breaker's time in state (its other series stay as they are). */
  dispose(): void {
    if (this.metrics.live.get(this.opts.name) === this) this.metrics.live.delete(this.opts.name);
  }

  private smooth(signal: BreakerSignal): void {
    const a = this.opts.alpha;
    const err = signal.ok ? 0 : 1;
    if (this.samples === 0 && this.current === 'closed') {
      this.errorRate = err;
      this.latencyMs = signal.latencyMs;
    } else {
      this.errorRate += a * (err - this.errorRate);
      this.latencyMs += a * (signal.latencyMs - this.latencyMs);
    }
    this.samples++;
  }

  /** Time-driven transition: an open breaker becomes half-open once its ejection (and dwell) is over. */
  private advance(now: number): void {
    if (this.current !== 'open') return;
    if (now - this.enteredAt >= Math.max(this.ejectionMs, this.opts.dwellMs.open)) {
      this.probesInFlight = 0;
      this.goodProbes = 0;
      this.transition('half_open', now, 'ejection_elapsed');
    }
  }

  private decayOpens(now: number): void {
    const o = this.opts;
    while (this.opens > 0 && now - this.closedSince >= o.ejectionDecayMs) {
      this.opens--;
      this.closedSince += o.ejectionDecayMs;
    }
  }

  private open(now: number, reason: string): void {
    const o = this.opts;
    if (this.current === 'closed') this.decayOpens(now);
    this.opens++;
    this.ejectionMs = Math.min(o.baseEjectionMs * this.opens, o.maxEjectionMs);
    this.probesInFlight = 0;
    this.goodProbes = 0;
    this.transition('open', now, reason);
  }

  private transition(to: BreakerState, now: number, reason: string): void {
    const from = this.current;
    const name = this.opts.name;
    this.accrue(now);
    this.current = to;
    this.enteredAt = this.accruedTo = now;
    this.metrics.state.set({ breaker: name, state: from }, 0);
    this.metrics.state.set({ breaker: name, state: to }, 1);
    this.metrics.transitions.inc({ breaker: name, from, to });
    this.opts.onTransition?.({ from, to, at: now, reason, errorRate: this.errorRate, latencyMs: this.latencyMs });
  }
}

function validate(o: Omit<BreakerOptions, 'registry' | 'onTransition'>): void {
  const fail = (what: string) => {
    throw new RangeError(`breaker ${o.name}: ${what}`);
  };
  if (!(o.alpha > 0 && o.alpha <= 1)) fail('alpha must be in (0, 1]');
  if (!(o.closeErrorRate >= 0 && o.closeErrorRate < o.openErrorRate && o.openErrorRate <= 1)) fail('need 0 <= closeErrorRate < openErrorRate <= 1');
  if (!(o.closeLatencyMs >= 0 && o.closeLatencyMs < o.openLatencyMs)) fail('need 0 <= closeLatencyMs < openLatencyMs');
  if (!(Number.isInteger(o.probes) && o.probes >= 1)) fail('probes must be an integer >= 1');
  if (!(Number.isInteger(o.minSamples) && o.minSamples >= 1)) fail('minSamples must be an integer >= 1');
  if (!(o.baseEjectionMs > 0 && o.maxEjectionMs >= o.baseEjectionMs && o.ejectionDecayMs > 0)) fail('need 0 < baseEjectionMs <= maxEjectionMs and ejectionDecayMs > 0');
  for (const s of STATES) if (!(o.dwellMs[s] >= 0)) fail(`dwellMs.${s} must be >= 0`);
}

/**
 * Counts flaps in a transition log: a flap is an open that follows a close within `windowMs`
 * (open -> ... -> closed -> open). The pilot's target is 0 under induced faults.
 */
export function countFlaps(transitions: readonly Pick<BreakerTransition, 'to' | 'at'>[], windowMs: number): number {
  let flaps = 0;
  let closedAt: number | null = null;
  for (const t of transitions) {
    if (t.to === 'closed') closedAt = t.at;
    else if (t.to === 'open' && closedAt !== null) {
      if (t.at - closedAt < windowMs) flaps++;
      closedAt = null;
    }
  }
  return flaps;
}
