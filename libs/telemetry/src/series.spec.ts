import { Counter, Histogram, Registry } from 'prom-client';
import { FastCounter, FastHistogram } from './series';

/** The exposition's lines, sorted: the order of series within a metric is not part of the format. */
const lines = async (registry: Registry) => (await registry.metrics()).split('\n').sort();

describe('FastCounter and FastHistogram (series.ts)', () => {
  const buckets = [0.001, 0.01, 0.1, 1];
  const observations: [string, string, number][] = [
    ['/introspect', 'POST', 0.0004],
    ['/issue', 'POST', 0.001],
    ['/introspect', 'POST', 0.01],
    ['/introspect', 'GET', 5],
    ['/issue', 'POST', 0.05],
    ['/introspect', 'POST', -1],
    ['unmatched', 'OTHER', 1],
  ];

  it('expose exactly what prom-client\'s Counter and Histogram expose for the same values', async () => {
    const fast = new Registry();
    const reference = new Registry();
    const config = { name: 'test_requests_total', help: 'Requests.', labelNames: ['route', 'method', 'status'] as const };
    const fastCounter = new FastCounter({ ...config, registers: [fast] });
    const counter = new Counter({ ...config, registers: [reference] });
    const hConfig = { name: 'test_duration_seconds', help: 'Durations.', labelNames: ['route', 'method'] as const, buckets };
    const fastHistogram = new FastHistogram({ ...hConfig, registers: [fast] });
    const histogram = new Histogram({ ...hConfig, registers: [reference] });
    const plain = { name: 'test_latency_seconds', help: 'No labels.', buckets };
    const fastPlain = new FastHistogram({ ...plain, registers: [fast] });
    const referencePlain = new Histogram({ ...plain, registers: [reference] });
    // Zero-initialised series, as metrics.ts does for the alerts.
    fastCounter.metric.inc({ route: '/issue', method: 'POST', status: '503' }, 0);
    counter.inc({ route: '/issue', method: 'POST', status: '503' }, 0);
    fastHistogram.zero('/ledger/checkpoint', 'GET');
    histogram.zero({ route: '/ledger/checkpoint', method: 'GET' });
    expect(await lines(fast)).toEqual(await lines(reference));

    for (const [route, method, seconds] of observations) {
      fastCounter.series(route, method, '200').inc();
      counter.inc({ route, method, status: '200' });
      fastHistogram.series(route, method).observe(seconds);
      histogram.observe({ route, method }, seconds);
      fastPlain.series().observe(seconds);
      referencePlain.observe(seconds);
    }
    fastCounter.series('/issue', 'POST', '201').inc(3);
    counter.inc({ route: '/issue', method: 'POST', status: '201' }, 3);
    expect(await lines(fast)).toEqual(await lines(reference));
    // A second scrape: the counter has nothing new to take, the histograms have not changed.
    expect(await lines(fast)).toEqual(await lines(reference));

    // Counted but not yet scraped when the registry is reset: gone, as with prom-client.
    fastCounter.series('/issue', 'POST', '200').inc();
    counter.inc({ route: '/issue', method: 'POST', status: '200' });
    fast.resetMetrics();
    reference.resetMetrics();
    expect(await lines(fast)).toEqual(await lines(reference));
  });

  it('hand out one series object per label values: nothing is allocated once a series exists', () => {
    const counter = new FastCounter({ name: 'test_same_total', help: 'x', labelNames: ['a', 'b'] as const, registers: [new Registry()] });
    expect(counter.series('x', 'y')).toBe(counter.series('x', 'y'));
    expect(counter.series('x', 'y')).not.toBe(counter.series('x', 'z'));
    const histogram = new FastHistogram({ name: 'test_same_seconds', help: 'x', labelNames: ['a'] as const, buckets, registers: [new Registry()] });
    expect(histogram.series('x')).toBe(histogram.series('x'));
  });

  it('refuse what prom-client refuses', () => {
    const registry = new Registry();
    const histogram = new FastHistogram({ name: 'test_refuse_seconds', help: 'x', buckets, registers: [registry] });
    expect(() => histogram.series().observe(Number.NaN)).toThrow(TypeError);
    const counter = new FastCounter({ name: 'test_refuse_total', help: 'x', registers: [registry] });
    expect(() => counter.series().inc(-1)).toThrow('It is not possible to decrease a counter');
    expect(() => counter.series().inc(Number.POSITIVE_INFINITY)).toThrow(TypeError);
    expect(() => new FastHistogram({ name: 'test_refuse_seconds', help: 'x', buckets, registers: [registry] })).toThrow('already been registered');
    expect(() => new FastHistogram({ name: 'bad name', help: 'x', buckets, registers: [registry] })).toThrow('Invalid metric name');
    expect(() => new FastHistogram({ name: 'test_le_seconds', help: 'x', labelNames: ['le'], buckets, registers: [registry] })).toThrow('le is a reserved label keyword');
  });
});
