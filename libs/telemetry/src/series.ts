import { Counter, Histogram, type CounterConfiguration, type HistogramConfiguration, type Metric, type Registry } from 'prom-client';

/**
 * Counters and histograms for the metrics every request moves, without prom-client's work per
 * call: `inc(labels)` and `observe(labels, v)` take a label object, validate it and hash it into
 * a string key each time (about 1 µs over a cached introspection's four metrics, and garbage:
 * `npm run bench:hot-path`). Here a
 * series is looked up by its label values, one Map level per label, and then updated in place:
 * after a series' first use nothing is allocated. What /metrics shows is unchanged (series.spec
 * compares the text with prom-client's own metrics fed the same values):
 * - a counter hands its increments to a prom-client Counter when scraped (its `collect`);
 * - a histogram keeps its buckets itself and is registered as a metric that reports them as
 *   prom-client's Histogram does, to the same registry.
 * At most three labels, whose values the callers bound (route templates, methods, statuses,
 * decisions, deny reasons, partner ids).
 */

/** Series by label values: one Map level per label, the series in the last. */
class SeriesMap<S> {
  private readonly root = new Map<string, unknown>();

  constructor(
    private readonly labelNames: readonly string[],
    private readonly create: (labels: Record<string, string>) => S,
  ) {
    if (labelNames.length > 3) throw new Error('at most three labels');
  }

  get(a = '', b = '', c = ''): S {
    const n = this.labelNames.length;
    let map = this.root;
    if (n >= 2) map = this.level(map, a);
    if (n === 3) map = this.level(map, b);
    return this.leaf(map, n === 0 ? '' : n === 1 ? a : n === 2 ? b : c, a, b, c);
  }

  all(): S[] {
    const out: S[] = [];
    const walk = (map: Map<string, unknown>, depth: number) => {
      for (const value of map.values()) {
        if (depth <= 1) out.push(value as S);
        else walk(value as Map<string, unknown>, depth - 1);
      }
    };
    walk(this.root, Math.max(1, this.labelNames.length));
    return out;
  }

  clear(): void {
    this.root.clear();
  }

  private level(map: Map<string, unknown>, key: string): Map<string, unknown> {
    let next = map.get(key) as Map<string, unknown> | undefined;
    if (next === undefined) map.set(key, (next = new Map()));
    return next;
  }

  private leaf(map: Map<string, unknown>, key: string, a: string, b: string, c: string): S {
    let series = map.get(key) as S | undefined;
    if (series === undefined) {
      const values = [a, b, c];
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i] ?? ''));
      map.set(key, (series = this.create(labels)));
    }
    return series;
  }
}

export interface CounterSeries {
  inc(by?: number): void;
}

class CounterCell implements CounterSeries {
  pending = 0;
  constructor(readonly labels: Record<string, string>) {}
  inc(by = 1): void {
    // prom-client's checks, here rather than at the scrape that would otherwise fail.
    if (!Number.isFinite(by)) throw new TypeError(`Value is not a valid number: ${by}`);
    if (by < 0) throw new Error('It is not possible to decrease a counter');
    this.pending += by;
  }
}

/**
 * A prom-client Counter (`metric`: zero-initialise series, read it in tests) whose per-request
 * increments go through `series(...)`.
 */
export class FastCounter<L extends string> {
  readonly metric: Counter<L>;
  private readonly cells: SeriesMap<CounterCell>;

  constructor(config: CounterConfiguration<L>) {
    const labelNames = config.labelNames ?? [];
    this.cells = new SeriesMap(labelNames, (labels) => new CounterCell(labels));
    const cells = this.cells;
    this.metric = new Counter<L>({
      ...config,
      collect(this: Counter<L>) {
        for (const cell of cells.all()) {
          if (cell.pending === 0) continue;
          this.inc(cell.labels as Partial<Record<L, string>>, cell.pending);
          cell.pending = 0;
        }
      },
    });
    // A reset (registry.resetMetrics) also forgets what was counted since the last scrape.
    const reset = this.metric.reset.bind(this.metric);
    this.metric.reset = () => {
      reset();
      for (const cell of cells.all()) cell.pending = 0;
    };
  }

  /** The series with these label values, in `labelNames` order. */
  series(a?: string, b?: string, c?: string): CounterSeries {
    return this.cells.get(a, b, c);
  }
}

export interface HistogramSeries {
  observe(value: number): void;
}

class HistogramCell implements HistogramSeries {
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    let i = 0;
    for (const bound of this.bounds) {
      if (value <= bound) break;
      i++;
    }
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.sum += value;
    this.count++;
  }
}

/**
 * A histogram registered in `config.registers` under its name, reporting what prom-client's
 * Histogram reports for the same observations: per series, cumulative `_bucket` lines (`le`
 * first, then the series' labels, and `+Inf`), then `_sum` and `_count`.
 */
export class FastHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: readonly number[];
  private readonly cells: SeriesMap<HistogramCell>;

  constructor(config: HistogramConfiguration<L> & { buckets: number[]; registers: Registry[] }) {
    // prom-client checks the name, the label names and the buckets (the instance is registered nowhere).
    new Histogram<L>({ ...config, registers: [] });
    this.name = config.name;
    this.help = config.help;
    this.bounds = [...config.buckets];
    const labelNames = config.labelNames ?? [];
    this.cells = new SeriesMap(labelNames, (labels) => new HistogramCell(labels, this.bounds));
    for (const registry of config.registers) registry.registerMetric(this as unknown as Metric);
    if (labelNames.length === 0) this.cells.get();
  }

  /** The series with these label values, in `labelNames` order (look it up per use: a reset forgets it). */
  series(a?: string, b?: string, c?: string): HistogramSeries {
    return this.cells.get(a, b, c);
  }

  /** A series reported (all zero) before its first observation. */
  zero(a?: string, b?: string, c?: string): void {
    this.cells.get(a, b, c);
  }

  /** The registry's view: the same values prom-client's Histogram#get returns. */
  async get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const cell of this.cells.all()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += cell.counts[i] ?? 0;
        values.push({ labels: { le, ...cell.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...cell.labels }, value: cell.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...cell.labels }, value: cell.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...cell.labels }, value: cell.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.cells.clear();
  }
}
