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
import { registerBusMetrics } from '@ctp/telemetry';

/** JetStream's default duplicate window. */
const DEDUP_WINDOW_MS = 120_000;

/** Per-stream limits of the in-process bus: like a JetStream stream's max_msgs and max_bytes with the discard-old policy. */
export interface MemoryBusLimits {
  /** Most events a stream keeps (default 100,000). */
  maxEvents?: number;
  /** Most bytes of event payload (JSON), subjects and headers a stream keeps (default 64 MiB). */
  maxBytes?: number;
}

type Stored = BusEvent & { storedAtMs: number; bytes: number };

interface Stream {
  spec: StreamSpec;
  /** events[head..] are stored; earlier slots were discarded (emptied at once, compacted away now and then). */
  events: (Stored | undefined)[];
  head: number;
  bytes: number;
  firstSeq: number;
  listeners: Set<(event: BusEvent) => void>;
  dedup: Map<string, { seq: number; atMs: number }>;
  /** The last event per subject, for lastBySubject; entries leave with the events they point to. */
  bySubject: Map<string, Stored>;
}

const count = (s: Stream) => s.events.length - s.head;
/** The stored events from the `from`-th on (0: the oldest), at most `max`. */
const stored = (s: Stream, from = 0, max = Infinity) => s.events.slice(s.head + from, s.head + from + Math.min(max, count(s))) as Stored[];

/**
 * In-process bus for `ctp up`: same ordering and replay semantics, nothing survives the
 * process. Each stream keeps its events for the stream's max age and within `limits`
 * (the oldest are discarded first), so a long-running `ctp up` holds a bounded amount.
 */
export class MemoryBus implements EventBus {
  private readonly streams = new Map<string, Stream>();
  readonly status: BusStatus = 'connected';
  private readonly maxEvents: number;
  private readonly maxBytes: number;

  constructor(limits: MemoryBusLimits = {}) {
    this.maxEvents = limits.maxEvents ?? 100_000;
    this.maxBytes = limits.maxBytes ?? 64 * 1024 * 1024;
    registerBusMetrics(() => [...this.streams.values()].map((s) => ({ stream: s.spec.name, events: count(s), bytes: s.bytes })));
  }

  /** The stream storing each subject published so far (streams are looked up once per subject, not per event). */
  private readonly subjectStreams = new Map<string, Stream>();

  private streamFor(subject: string): Stream {
    let stream = this.subjectStreams.get(subject);
    if (stream === undefined) {
      stream = [...this.streams.values()].find((s) => s.spec.subjects.some((f) => subjectMatches(f, subject)));
      if (!stream) throw new Error(`no stream stores subject ${subject}`);
      // Subjects carry ids (consent.revoked.<jti>): keep the memo bounded.
      if (this.subjectStreams.size >= 1024) this.subjectStreams.clear();
      this.subjectStreams.set(subject, stream);
    }
    return stream;
  }

  async ensureStreams(specs: StreamSpec[]): Promise<void> {
    this.subjectStreams.clear();
    for (const spec of specs) {
      const existing = this.streams.get(spec.name);
      if (existing) existing.spec = spec;
      else this.streams.set(spec.name, { spec, events: [], head: 0, bytes: 0, firstSeq: 1, listeners: new Set(), dedup: new Map(), bySubject: new Map() });
    }
  }

  async publish(subject: string, data: object, options: PublishOptions = {}): Promise<number> {
    const stream = this.streamFor(subject);
    const now = Date.now();
    if (options.msgId !== undefined) {
      const seen = stream.dedup.get(options.msgId);
      if (seen && seen.atMs > now - (stream.spec.duplicateWindowMs ?? DEDUP_WINDOW_MS)) return seen.seq;
      if (stream.dedup.size > 100_000) stream.dedup.clear();
    }
    const headers = { ...options.headers };
    const json = JSON.stringify(data);
    const bytes = Buffer.byteLength(subject) + Buffer.byteLength(json) + Buffer.byteLength(JSON.stringify(headers));
    if (bytes > this.maxBytes) throw new Error(`an event of ${bytes} bytes exceeds the stream limit of ${this.maxBytes} bytes`);
    this.discard(stream, (oldest) => oldest.storedAtMs < now - stream.spec.maxAgeMs || count(stream) >= this.maxEvents || stream.bytes + bytes > this.maxBytes);
    // Stored as what NATS would carry: the payload's JSON, parsed back (a copy the publisher cannot change afterwards).
    const event: Stored = { subject, seq: stream.firstSeq + count(stream), data: JSON.parse(json) as object, headers, storedAtMs: now, bytes };
    stream.events.push(event);
    stream.bytes += bytes;
    stream.bySubject.set(subject, event);
    if (options.msgId !== undefined) stream.dedup.set(options.msgId, { seq: event.seq, atMs: now });
    for (const listener of stream.listeners) listener(event);
    return event.seq;
  }

  /** Drops the oldest events while `tooMany` holds for the oldest one; compacts the array once half of it is dropped. */
  private discard(stream: Stream, tooMany: (oldest: Stored) => boolean): void {
    while (count(stream) > 0 && tooMany(stream.events[stream.head]!)) {
      const oldest = stream.events[stream.head]!;
      stream.bytes -= oldest.bytes;
      if (stream.bySubject.get(oldest.subject) === oldest) stream.bySubject.delete(oldest.subject);
      stream.events[stream.head] = undefined;
      stream.head++;
      stream.firstSeq++;
    }
    if (stream.head > 1024 && stream.head * 2 > stream.events.length) {
      stream.events = stream.events.slice(stream.head);
      stream.head = 0;
    }
  }

  async lastBySubject<T>(streamName: string, subject: string): Promise<BusEvent<T> | null> {
    const stream = this.streams.get(streamName);
    if (!stream) throw new Error(`no stream ${streamName}`);
    const event = stream.bySubject.get(subject);
    if (!event || event.storedAtMs < Date.now() - stream.spec.maxAgeMs) return null;
    const { storedAtMs: _s, bytes: _b, ...found } = event;
    return found as BusEvent<T>;
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
      try {
        while (queue.length > 0 && !stopped) {
          // A handler that fails loses its event, as a live subscription does; it must not stop the ones after it.
          await Promise.resolve(handler(queue.shift() as BusEvent<T>)).catch(() => undefined);
        }
      } finally {
        draining = false;
      }
    };
    const deliver = (event: BusEvent) => {
      if (!subjectMatches(options.filter, event.subject)) return;
      queue.push(event);
      void drain();
    };
    for (const event of stored(stream)) {
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
      const first = stored(stream).find((e) => e.storedAtMs >= options.fromTimeMs!);
      this.durables.set(key, (first?.seq ?? stream.firstSeq + count(stream)) - 1);
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
    const slice = stored(stream, start, options.max);
    return {
      events: slice.filter((e) => subjectMatches(options.filter, e.subject)).map(({ storedAtMs: _s, bytes: _b, ...e }) => e as BusEvent<T>),
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
    const pending = stored(s).filter((e) => e.seq > options.afterSeq && subjectMatches(options.filter, e.subject));
    return { pending: pending.length, oldestPendingMs: pending[0]?.storedAtMs ?? null };
  }

  async lastSeq(stream: string): Promise<number> {
    const s = this.streams.get(stream);
    return s ? s.firstSeq + count(s) - 1 : 0;
  }

  onStatus(): void {
    // The in-process bus is always connected: there is no status to report.
  }

  async close(): Promise<void> {
    for (const stream of this.streams.values()) stream.listeners.clear();
  }
}
