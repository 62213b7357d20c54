import {
  subjectMatches,
  type BusEvent,
  type BusStatus,
  type ConsumerLag,
  type DurableOptions,
  type EventBus,
  type PublishOptions,
  type ReadOptions,
  type ReadResult,
  type StreamSpec,
  type SubscribeOptions,
  type Subscription,
} from './event_bus';

/** JetStream's default duplicate window. */
const DEDUP_WINDOW_MS = 120_000;

type StoredEvent = BusEvent & { storedAtMs: number };

interface Stream {
  spec: StreamSpec;
  events: StoredEvent[];
  firstSeq: number;
  listeners: Set<(event: BusEvent) => void>;
  dedup: Map<string, { seq: number; atMs: number }>;
  /** The last event per subject, for lastBySubject; entries leave with the events they point to. */
  bySubject: Map<string, StoredEvent>;
}

/** In-process bus for `ctp up`: same ordering and replay semantics, nothing survives the process. */
export class MemoryBus implements EventBus {
  private readonly streams = new Map<string, Stream>();
  readonly status: BusStatus = 'connected';

  async ensureStreams(specs: StreamSpec[]): Promise<void> {
    for (const spec of specs) {
      const existing = this.streams.get(spec.name);
      if (existing) existing.spec = spec;
      else this.streams.set(spec.name, { spec, events: [], firstSeq: 1, listeners: new Set(), dedup: new Map(), bySubject: new Map() });
    }
  }

  async publish(subject: string, data: object, options: PublishOptions = {}): Promise<number> {
    const stream = [...this.streams.values()].find((s) => s.spec.subjects.some((f) => subjectMatches(f, subject)));
    if (!stream) throw new Error(`no stream stores subject ${subject}`);
    const now = Date.now();
    if (options.msgId !== undefined) {
      const seen = stream.dedup.get(options.msgId);
      if (seen && seen.atMs > now - (stream.spec.duplicateWindowMs ?? DEDUP_WINDOW_MS)) return seen.seq;
      if (stream.dedup.size > 100_000) stream.dedup.clear();
    }
    while (stream.events.length > 0 && stream.events[0]!.storedAtMs < now - stream.spec.maxAgeMs) {
      const expired = stream.events.shift()!;
      if (stream.bySubject.get(expired.subject) === expired) stream.bySubject.delete(expired.subject);
      stream.firstSeq++;
    }
    const event = { subject, seq: stream.firstSeq + stream.events.length, data: structuredClone(data), headers: { ...options.headers }, storedAtMs: now };
    stream.events.push(event);
    stream.bySubject.set(subject, event);
    if (options.msgId !== undefined) stream.dedup.set(options.msgId, { seq: event.seq, atMs: now });
    for (const listener of stream.listeners) listener(event);
    return event.seq;
  }

  async lastBySubject<T>(streamName: string, subject: string): Promise<BusEvent<T> | null> {
    const stream = this.streams.get(streamName);
    if (!stream) throw new Error(`no stream ${streamName}`);
    const event = stream.bySubject.get(subject);
    if (!event || event.storedAtMs < Date.now() - stream.spec.maxAgeMs) return null;
    const { storedAtMs: _s, ...stored } = event;
    return stored as BusEvent<T>;
  }

  async subscribe<T>(options: SubscribeOptions, handler: (event: BusEvent<T>) => void | Promise<void>): Promise<Subscription> {
    const stream = this.streams.get(options.stream);
    if (!stream) throw new Error(`no stream ${options.stream}`);
    const queue: BusEvent[] = [];
    let draining = false;
    let stopped = false;
    const drain = async () => {
      if (draining) return;
      draining = true;
      while (queue.length > 0 && !stopped) await handler(queue.shift() as BusEvent<T>);
      draining = false;
    };
    const deliver = (event: BusEvent) => {
      if (!subjectMatches(options.filter, event.subject)) return;
      queue.push(event);
      void drain();
    };
    for (const event of stream.events) {
      if ((options.fromSeq !== undefined && event.seq >= options.fromSeq) || (options.fromTimeMs !== undefined && event.storedAtMs >= options.fromTimeMs)) deliver(event);
    }
    stream.listeners.add(deliver);
    return {
      healthy: true,
      stop: async () => {
        stopped = true;
        stream.listeners.delete(deliver);
      },
    };
  }

  /** Durable positions live as long as the process, which is all `ctp up` needs. */
  private readonly durables = new Map<string, number>();
  private readonly durableFilters = new Map<string, string>();

  async consume<T>(options: DurableOptions, handler: (events: BusEvent<T>[]) => Promise<void>): Promise<Subscription> {
    const key = `${options.stream}/${options.durable}`;
    this.durableFilters.set(key, options.filter);
    let stopped = false;
    let wake: (() => void) | undefined;
    const stream = this.streams.get(options.stream);
    if (!stream) throw new Error(`no stream ${options.stream}`);
    const listener = () => wake?.();
    stream.listeners.add(listener);
    if (!this.durables.has(key) && options.fromTimeMs !== undefined) {
      const first = stream.events.find((e) => e.storedAtMs >= options.fromTimeMs!);
      this.durables.set(key, (first?.seq ?? stream.firstSeq + stream.events.length) - 1);
    }
    const loop = (async () => {
      while (!stopped) {
        const next = (this.durables.get(key) ?? 0) + 1;
        const { events, lastSeq } = await this.read<T>({ stream: options.stream, filter: options.filter, fromSeq: next, max: options.batchSize });
        if (lastSeq < next) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, options.maxWaitMs);
          });
          continue;
        }
        try {
          if (events.length > 0) await handler(events);
          this.durables.set(key, lastSeq);
        } catch {
          // Not acknowledged: the same batch is offered again.
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    })();
    return {
      healthy: true,
      stop: async () => {
        stopped = true;
        wake?.();
        stream.listeners.delete(listener);
        await loop;
      },
    };
  }

  async read<T>(options: ReadOptions): Promise<ReadResult<T>> {
    const stream = this.streams.get(options.stream);
    if (!stream) throw new Error(`no stream ${options.stream}`);
    const start = Math.max(options.fromSeq, stream.firstSeq) - stream.firstSeq;
    const slice = stream.events.slice(start, start + options.max);
    return {
      events: slice.filter((e) => subjectMatches(options.filter, e.subject)).map(({ storedAtMs: _s, ...e }) => e as BusEvent<T>),
      lastSeq: slice.length > 0 ? slice[slice.length - 1]!.seq : Math.max(options.fromSeq, stream.firstSeq) - 1,
      firstSeq: stream.firstSeq,
    };
  }

  async consumerLag(stream: string, durable: string): Promise<ConsumerLag> {
    const s = this.streams.get(stream);
    if (!s) throw new Error(`no stream ${stream}`);
    const key = `${stream}/${durable}`;
    return this.backlog({ stream, filter: this.durableFilters.get(key) ?? '>', afterSeq: this.durables.get(key) ?? s.firstSeq - 1 });
  }

  async backlog(options: { stream: string; filter: string; afterSeq: number }): Promise<ConsumerLag> {
    const s = this.streams.get(options.stream);
    if (!s) throw new Error(`no stream ${options.stream}`);
    const pending = s.events.filter((e) => e.seq > options.afterSeq && subjectMatches(options.filter, e.subject));
    return { pending: pending.length, oldestPendingMs: pending[0]?.storedAtMs ?? null };
  }

  async lastSeq(stream: string): Promise<number> {
    const s = this.streams.get(stream);
    return s ? s.firstSeq + s.events.length - 1 : 0;
  }

  onStatus(): void {
    // The in-process bus is always connected: there is no status to report.
  }

  async close(): Promise<void> {
    for (const stream of this.streams.values()) stream.listeners.clear();
  }
}
