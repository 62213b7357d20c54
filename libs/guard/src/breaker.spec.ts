import fc from 'fast-check';
import { Registry } from 'prom-client';
import { HysteresisBreaker, countFlaps, type BreakerOptions, type BreakerTransition } from './breaker';
import type { BreakerState } from './contracts';

const OK = { ok: true, latencyMs: 5 };
const FAIL = { ok: false, latencyMs: 5 };

function make(over: Partial<BreakerOptions> = {}) {
  const clock = { now: 1_000_000 };
  const log: BreakerTransition[] = [];
  const registry = new Registry();
  const breaker = new HysteresisBreaker({
    name: 'ctp',
    alpha: 0.2,
    openErrorRate: 0.5,
    closeErrorRate: 0.2,
    openLatencyMs: 200,
    closeLatencyMs: 50,
    minSamples: 5,
    dwellMs: { closed: 1_000, open: 2_000, half_open: 500 },
    probes: 3,
    baseEjectionMs: 5_000,
    maxEjectionMs: 20_000,
    ejectionDecayMs: 60_000,
    clock: () => clock.now,
    registry,
    onTransition: (t) => log.push(t),
    ...over,
  });
  const feed = (signal: { ok: boolean; latencyMs: number }, n = 1, stepMs = 100) => {
    for (let i = 0; i < n; i++) {
      clock.now += stepMs;
      if (breaker.tryAcquire()) breaker.record(signal);
    }
  };
  return { breaker, clock, log, registry, feed };
}

/** Drives a fresh breaker open: errors until the smoothed rate crosses, after the closed dwell. */
function openIt(h: ReturnType<typeof make>) {
  h.feed(FAIL, 20);
  expect(h.breaker.state).toBe('open');
}

describe('HysteresisBreaker: the state machine', () => {
  it('stays closed on good calls and opens on a smoothed error rate at the open threshold', () => {
    const h = make();
    h.feed(OK, 50);
    expect(h.breaker.state).toBe('closed');
    h.feed(FAIL, 3);
    // 3 errors at alpha 0.2 from 0: 0.2, 0.36, 0.488 < 0.5: still closed.
    expect(h.breaker.state).toBe('closed');
    h.feed(FAIL, 1);
    expect(h.breaker.state).toBe('open');
    expect(h.log.map((t) => [t.from, t.to, t.reason])).toEqual([['closed', 'open', 'error_rate']]);
  });

  it('opens on smoothed latency, not on one slow call', () => {
    const h = make();
    h.feed({ ok: true, latencyMs: 10 }, 20);
    h.feed({ ok: true, latencyMs: 900 }, 1);
    expect(h.breaker.state).toBe('closed'); // 10 + 0.2 * 890 = 188 < 200
    h.feed({ ok: true, latencyMs: 900 }, 1);
    expect(h.breaker.state).toBe('open');
    expect(h.log[0]!.reason).toBe('latency');
  });

  it('needs minSamples and the closed dwell before opening', () => {
    const h = make({ minSamples: 8, dwellMs: { closed: 3_000, open: 2_000, half_open: 500 } });
    h.feed(FAIL, 7, 10);
    expect(h.breaker.state).toBe('closed'); // 7 samples < 8
    h.feed(FAIL, 5, 10);
    expect(h.breaker.state).toBe('closed'); // 120 ms < 3 s dwell
    h.clock.now += 3_000;
    h.feed(FAIL, 1, 0);
    expect(h.breaker.state).toBe('open');
  });

  it('refuses calls while open, for the ejection time, then lets `probes` probes through at once', () => {
    const h = make();
    openIt(h);
    const openedAt = h.log[0]!.at;
    h.clock.now = openedAt + 4_999;
    expect(h.breaker.tryAcquire()).toBe(false);
    h.clock.now = openedAt + 5_000;
    expect([1, 2, 3, 4].map(() => h.breaker.tryAcquire())).toEqual([true, true, true, false]);
    expect(h.breaker.state).toBe('half_open');
    h.breaker.record(OK);
    expect(h.breaker.tryAcquire()).toBe(true); // a finished probe frees its slot
  });

  it('closes only after enough good probes, the smoothed signal under the close threshold and the half-open dwell', () => {
    const h = make();
    openIt(h);
    h.clock.now += 5_000;
    // The error EWMA is near 1 after 20 failures: probes must bring it to <= 0.2 (8 good samples at 0.2).
    const closedAfter: number[] = [];
    for (let i = 1; i <= 12 && h.breaker.state === 'half_open'; i++) {
      h.clock.now += 100;
      expect(h.breaker.tryAcquire()).toBe(true);
      h.breaker.record(OK);
      if ((h.breaker.state as string) === 'closed') closedAfter.push(i);
    }
    expect(closedAfter).toEqual([8]);
    expect(h.log.map((t) => t.to)).toEqual(['open', 'half_open', 'closed']);
    expect(h.log[2]!.reason).toBe('recovered');
  });

  it('a failed or slow probe reopens at once, with a longer ejection each time (capped)', () => {
    const h = make();
    openIt(h);
    const ejections: number[] = [];
    for (let round = 0; round < 6; round++) {
      const openedAt = h.log[h.log.length - 1]!.at;
      ejections.push(h.breaker.snapshot().ejectionMs);
      h.clock.now = openedAt + h.breaker.snapshot().ejectionMs;
      expect(h.breaker.tryAcquire()).toBe(true);
      h.breaker.record(round % 2 ? FAIL : { ok: true, latencyMs: 500 });
      expect(h.breaker.state).toBe('open');
    }
    expect(ejections).toEqual([5_000, 10_000, 15_000, 20_000, 20_000, 20_000]);
    expect(h.log.filter((t) => t.reason === 'probe_failed')).toHaveLength(6);
  });

  it('a probe between the thresholds counts neither way', () => {
    const h = make();
    openIt(h);
    h.clock.now += 5_000;
    for (let i = 0; i < 30; i++) {
      h.clock.now += 100;
      expect(h.breaker.tryAcquire()).toBe(true);
      h.breaker.record({ ok: true, latencyMs: 120 });
    }
    expect(h.breaker.state).toBe('half_open');
    expect(h.breaker.snapshot().goodProbes).toBe(0);
  });

  it('forgives one past open per ejectionDecayMs spent closed', () => {
    const h = make({ ejectionDecayMs: 10_000 });
    const cycle = () => {
      openIt(h);
      h.clock.now += h.breaker.snapshot().ejectionMs;
      h.feed(OK, 12);
      expect(h.breaker.state).toBe('closed');
    };
    cycle();
    cycle();
    expect(h.breaker.snapshot().opens).toBe(2);
    h.clock.now += 10_000;
    h.feed(OK, 1);
    expect(h.breaker.snapshot().opens).toBe(1);
    openIt(h);
    expect(h.breaker.snapshot().ejectionMs).toBe(10_000); // (1 + 1) * base, not 3 * base
  });

  it('drops outcomes of calls acquired before the breaker opened', () => {
    const h = make();
    openIt(h);
    const before = h.breaker.snapshot();
    h.breaker.record(OK);
    expect(h.breaker.snapshot()).toEqual(before);
  });

  it('run() times and records a call, counts a throw or a not-ok value as an error, and does not call while open', async () => {
    const h = make({ minSamples: 1, dwellMs: { closed: 0, open: 2_000, half_open: 0 } });
    await expect(h.breaker.run(async () => 'v')).resolves.toEqual({ ran: true, value: 'v' });
    await expect(h.breaker.run(async () => 'bad', (v) => v === 'good')).resolves.toEqual({ ran: true, value: 'bad' });
    expect(h.breaker.snapshot().errorRate).toBeCloseTo(0.2);
    await expect(h.breaker.run(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
    // Error EWMA 0, 0.2, 0.36, then 0.488 and 0.59: open.
    for (let i = 0; i < 2; i++) await h.breaker.run(() => Promise.reject(new Error('down'))).catch(() => undefined);
    expect(h.breaker.state).toBe('open');
    const call = jest.fn(async () => 'x');
    await expect(h.breaker.run(call)).resolves.toEqual({ ran: false });
    expect(call).not.toHaveBeenCalled();
  });

  it('rejects thresholds without a hysteresis band', () => {
    expect(() => make({ closeErrorRate: 0.5 })).toThrow(/closeErrorRate < openErrorRate/);
    expect(() => make({ closeLatencyMs: 300 })).toThrow(/closeLatencyMs < openLatencyMs/);
    expect(() => make({ probes: 0 })).toThrow(/probes/);
  });
});

describe('HysteresisBreaker: metrics', () => {
  it('exports state, transitions and time in state', async () => {
    const h = make();
    h.clock.now += 1_500;
    openIt(h);
    h.clock.now += 3_000;
    const text = await h.registry.metrics();
    expect(text).toContain('ctp_guard_breaker_state{breaker="ctp",state="open"} 1');
    expect(text).toContain('ctp_guard_breaker_state{breaker="ctp",state="closed"} 0');
    expect(text).toContain('ctp_guard_breaker_transitions_total{breaker="ctp",from="closed",to="open"} 1');
    // Closed 1.5 s + 5 failures at 100 ms (minSamples 5); open for the other 15 steps and the 3 s
    // since, counted up to the scrape.
    expect(text).toContain('ctp_guard_breaker_state_seconds_total{breaker="ctp",state="closed"} 2');
    expect(text).toContain('ctp_guard_breaker_state_seconds_total{breaker="ctp",state="open"} 4.5');
    expect(text).toContain('ctp_guard_breaker_state_seconds_total{breaker="ctp",state="half_open"} 0');
    h.breaker.dispose();
  });
});

describe('HysteresisBreaker: a signal inside the hysteresis band never causes a transition (property)', () => {
  const BAND = { openErrorRate: 0.5, closeErrorRate: 0.2, openLatencyMs: 200, closeLatencyMs: 50, alpha: 0.1 };
  const inBand = (errorRate: number, latencyMs: number) =>
    errorRate > BAND.closeErrorRate && errorRate < BAND.openErrorRate && latencyMs > BAND.closeLatencyMs && latencyMs < BAND.openLatencyMs;

  const steps = fc.array(
    fc.record({ wantError: fc.boolean(), latencyMs: fc.double({ min: 51, max: 199, noNaN: true }), dtMs: fc.integer({ min: 0, max: 5_000 }) }),
    { minLength: 1, maxLength: 300 },
  );

  /** A breaker in `start` whose smoothed error rate and latency are both inside the band. */
  function primed(start: 'closed' | 'half_open') {
    const h = make({ ...BAND, minSamples: 1, dwellMs: { closed: 0, open: 0, half_open: 0 }, probes: 3 });
    if (start === 'half_open') {
      openIt(h);
      h.clock.now += h.breaker.snapshot().ejectionMs;
    }
    // Closed: errors raise the error EWMA from 0 into the band (never to the open threshold).
    // Half-open: good probes at a band latency count neither way and bring the error EWMA down.
    const prime = { ok: start === 'half_open', latencyMs: 125 };
    for (let i = 0; i < 50 && !inBand(h.breaker.snapshot().errorRate, h.breaker.snapshot().latencyMs); i++) {
      expect(h.breaker.tryAcquire()).toBe(true);
      h.breaker.record(i === 0 && start === 'closed' ? { ok: true, latencyMs: 125 } : prime);
    }
    expect(inBand(h.breaker.snapshot().errorRate, h.breaker.snapshot().latencyMs)).toBe(true);
    expect(h.breaker.state).toBe(start);
    return h;
  }

  it('from closed (errors and latency oscillating in the band) and from half-open (latency in the band), at any timing', () => {
    fc.assert(
      fc.property(fc.constantFrom<'closed' | 'half_open'>('closed', 'half_open'), steps, (start, run) => {
        const h = primed(start);
        const before = h.log.length;
        for (const step of run) {
          h.clock.now += step.dtMs;
          // Follow the generator's wish for an error unless it would take the smoothed rate out of
          // the band. A half-open breaker judges each probe raw, so a failed probe is never in band.
          const err = h.breaker.snapshot().errorRate;
          const next = (e: boolean) => err + BAND.alpha * ((e ? 1 : 0) - err);
          const band = (v: number) => v > BAND.closeErrorRate && v < BAND.openErrorRate;
          const isError = start === 'half_open' ? false : band(next(step.wantError)) ? step.wantError : !step.wantError;
          expect(h.breaker.tryAcquire()).toBe(true);
          h.breaker.record({ ok: !isError, latencyMs: step.latencyMs });
          expect(inBand(h.breaker.snapshot().errorRate, h.breaker.snapshot().latencyMs) || start === 'half_open').toBe(true);
        }
        expect(h.log.length).toBe(before);
        expect(h.breaker.state).toBe(start);
      }),
      { numRuns: 300, seed: 0x5eed },
    );
  });
});

describe('countFlaps', () => {
  it('counts an open that follows a close within the window', () => {
    const t = (to: BreakerState, at: number) => ({ to, at });
    const log = [t('open', 0), t('half_open', 5), t('closed', 6), t('open', 8), t('half_open', 20), t('closed', 21), t('open', 100)];
    expect(countFlaps(log, 10)).toBe(1);
    expect(countFlaps(log, 100)).toBe(2);
  });
});
