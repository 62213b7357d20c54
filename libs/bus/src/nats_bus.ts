import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  StorageType,
  type Consumer,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { type BusEvent, type BusStatus, type ConsumerLag, type DurableOptions, type EventBus, type PublishOptions, type ReadOptions, type ReadResult, type StreamSpec, type SubscribeOptions, type Subscription } from './event_bus';

export interface NatsBusOptions {
  servers: string;
  name: string;
  /** How long a publish waits for JetStream's acknowledgement. */
  publishTimeoutMs?: number;
  /** Durable consumers: how long a delivered message waits for its ack before redelivery (default 30 s). */
  ackWaitMs?: number;
}

const encoder = new TextEncoder();

/**
 * CTP_NATS_URL as the client takes it: one or more comma-separated server URLs (a cluster's seed
 * servers), the credentials of the first URL that carries some (`nats://user:password@host`, or
 * `nats://token@host`) taken out and passed as options, since the client does not read them
 * from a URL.
 */
export function natsServers(url: string): { servers: string[]; user?: string; pass?: string; token?: string } {
  const out: { servers: string[]; user?: string; pass?: string; token?: string } = { servers: [] };
  for (const raw of url.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `nats://${raw}`;
    const parsed = new URL(withScheme);
    if (parsed.username && out.user === undefined && out.token === undefined) {
      if (parsed.password) {
        out.user = decodeURIComponent(parsed.username);
        out.pass = decodeURIComponent(parsed.password);
      } else out.token = decodeURIComponent(parsed.username);
    }
    out.servers.push(`${parsed.protocol}//${parsed.host}`);
  }
  return out;
}

function headersOf(h: Iterable<[string, string[]]> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (h) for (const [k, v] of h) out[k] = v[0] ?? '';
  return out;
}
const decoder = new TextDecoder();

/** A subscription that hears nothing (no event, no heartbeat) this long on a connected bus is not delivering. */
const SILENT_AFTER_MS = 3_000;

/** NATS JetStream: file-backed streams, ordered consumers that resume after reconnects. */
export class NatsBus implements EventBus {
  private statusValue: BusStatus = 'connected';
  /** When the connection last came (back) up: subscriptions get SILENT_AFTER_MS from then to hear from the server. */
  private connectedAtMs = Date.now();
  private readonly listeners = new Set<(status: BusStatus) => void>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly publishTimeoutMs: number,
    private readonly ackWaitMs: number,
  ) {
    void this.watchStatus();
  }

  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const nc = await connect({
      ...natsServers(options.servers),
      name: options.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 5_000,
      // Without this, every request and JetStream publish builds an Error up front (its stack
      // captured) in case it times out: about a quarter of the standalone issuer's CPU per token
      // (two publishes). A timeout still fails with nats.js's TimeoutError; it only lacks the
      // caller's frames, and our errors name the operation (publish, subject) themselves.
      noAsyncTraces: true,
    });
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    return new NatsBus(nc, jetstream(nc), jsm, options.publishTimeoutMs ?? 2_000, options.ackWaitMs ?? 30_000);
  }

  get status(): BusStatus {
    return this.statusValue;
  }

  onStatus(listener: (status: BusStatus) => void): void {
    this.listeners.add(listener);
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      const next: BusStatus | undefined = s.type === 'disconnect' ? 'disconnected' : s.type === 'reconnect' ? 'connected' : undefined;
      if (next && next !== this.statusValue) {
        this.statusValue = next;
        if (next === 'connected') this.connectedAtMs = Date.now();
        for (const listener of this.listeners) listener(next);
      }
    }
  }

  async ensureStreams(specs: StreamSpec[]): Promise<void> {
    for (const spec of specs) {
      const config = {
        name: spec.name,
        subjects: spec.subjects,
        storage: StorageType.File,
        max_age: spec.maxAgeMs * 1_000_000,
        num_replicas: spec.replicas ?? 1,
        max_bytes: spec.maxBytes ?? -1,
        allow_direct: true,
        ...(spec.duplicateWindowMs === undefined ? {} : { duplicate_window: spec.duplicateWindowMs * 1_000_000 }),
      };
      try {
        await this.jsm.streams.info(spec.name);
        await this.jsm.streams.update(spec.name, config);
      } catch (error) {
        if (!/stream not found/i.test(String(error))) throw error;
        await this.jsm.streams.add(config);
      }
    }
  }

  async publish(subject: string, data: object, options: PublishOptions = {}): Promise<number> {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(options.headers ?? {})) h.set(k, v);
    const ack = await this.js.publish(subject, encoder.encode(JSON.stringify(data)), {
      headers: h,
      timeout: this.publishTimeoutMs,
      ...(options.msgId === undefined ? {} : { msgID: options.msgId }),
    });
    return ack.seq;
  }

  /**
   * Reads through a short-lived ordered consumer. Its num_pending says how many
   * matching events exist, so the fetch asks for exactly those and returns at once
   * (batch direct get would be one round trip, but needs nats-server 2.11).
   */
  async read<T>(options: ReadOptions): Promise<ReadResult<T>> {
    const state = (await this.jsm.streams.info(options.stream)).state;
    const from = Math.max(options.fromSeq, state.first_seq);
    const result: ReadResult<T> = { events: [], lastSeq: Math.max(from - 1, Math.min(state.last_seq, from + options.max - 1)), firstSeq: state.first_seq };
    if (from > state.last_seq) return { ...result, lastSeq: from - 1 };
    const consumer = await this.js.consumers.get(options.stream, {
      filter_subjects: options.filter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
    });
    try {
      const pending = (await consumer.info(true)).num_pending;
      const limitSeq = from + options.max - 1;
      if (pending === 0) return result;
      const messages = await consumer.fetch({ max_messages: Math.min(pending, options.max), expires: 2_000 });
      for await (const m of messages) {
        if (m.seq > limitSeq) break;
        result.events.push({ subject: m.subject, seq: m.seq, data: JSON.parse(decoder.decode(m.data)) as T, headers: headersOf(m.headers) });
      }
      const last = result.events[result.events.length - 1];
      if (last) result.lastSeq = Math.max(result.lastSeq, last.seq);
      return result;
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }

  /** A direct get (`$JS.API.DIRECT.GET.<stream>.<subject>`): any replica answers it from the stream's subject index. */
  async lastBySubject<T>(stream: string, subject: string): Promise<BusEvent<T> | null> {
    const m = await this.jsm.direct.getMessage(stream, { last_by_subj: subject });
    return m && { subject: m.subject, seq: m.seq, data: m.json<T>(), headers: headersOf(m.header) };
  }

  /**
   * Push delivery through ordered consumers that this subscription recreates itself. Every
   * consumer it creates starts at a stream sequence: the first at the one the options resolve
   * to, every later one right after the last event delivered, so a server restart neither
   * loses nor repeats an event. (The client's own ordered-consumer reset copies a start time
   * into a start-sequence config, which the server refuses: delivery then stopped for good.)
   * The subscription is healthy while the server answers it (a heartbeat every second, or
   * events); after SILENT_AFTER_MS of silence on a connected bus it starts a new consumer.
   */
  async subscribe<T>(options: SubscribeOptions, handler: (event: BusEvent<T>) => void | Promise<void>): Promise<Subscription> {
    let next = await this.startSequence(options);
    let stopped = false;
    let messages: ConsumerMessages | undefined;
    let aliveAtMs = Date.now();
    const alive = () => (aliveAtMs = Date.now());
    const watchdog = setInterval(() => {
      if (this.statusValue === 'connected' && Date.now() - Math.max(aliveAtMs, this.connectedAtMs) > SILENT_AFTER_MS) messages?.stop();
    }, 500);
    watchdog.unref();
    const loop = (async () => {
      for (let consumers = 0; !stopped; consumers++) {
        let consumer: Consumer;
        try {
          // A stream deleted and created again numbers from 1: start over at its first event.
          if (consumers > 0 && next > 1) {
            const state = (await this.jsm.streams.info(options.stream)).state;
            if (next > state.last_seq + 1) next = Math.max(1, state.first_seq);
          }
          consumer = await this.js.consumers.get(options.stream, { filter_subjects: options.filter, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: next });
          messages = await consumer.consume({ expires: 2_000 });
        } catch {
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        alive();
        if (stopped) messages.stop();
        if (consumers > 0) options.onResume?.();
        void (async () => {
          for await (const status of messages.status()) {
            if (status.type === 'heartbeat' || (status.type === 'debug' && status.code === 408)) alive();
            else if (status.type === 'ordered_consumer_recreated') options.onResume?.();
          }
        })().catch(() => undefined);
        try {
          for await (const m of messages) {
            alive();
            if (m.seq < next) continue;
            next = m.seq + 1;
            try {
              await handler({ subject: m.subject, seq: m.seq, data: JSON.parse(decoder.decode(m.data)) as T, headers: headersOf(m.headers) });
            } catch {
              // A handler's failure is its own business: the next event is still delivered.
            }
          }
        } catch {
          // The consumer failed (deleted, stream gone, too many failed recreations): start another.
        }
        void consumer.delete().catch(() => undefined);
      }
    })();
    return {
      get healthy() {
        return !stopped && Date.now() - aliveAtMs <= SILENT_AFTER_MS;
      },
      stop: async () => {
        stopped = true;
        clearInterval(watchdog);
        messages?.stop();
        await loop;
      },
    };
  }

  /** The stream sequence a subscription starts at: an explicit one, the first event stored at or after a time, or the next new one. */
  private async startSequence(options: SubscribeOptions): Promise<number> {
    if (options.fromSeq !== undefined) return options.fromSeq;
    // Read before the probe: an event stored after this read is at a later sequence either way.
    const last = await this.lastSeq(options.stream);
    if (options.fromTimeMs === undefined) return last + 1;
    const probe = await this.js.consumers.get(options.stream, {
      filter_subjects: options.filter,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(options.fromTimeMs).toISOString(),
    });
    try {
      if ((await probe.info(true)).num_pending === 0) return last + 1;
      const first = await probe.next({ expires: 2_000 });
      return first ? first.seq : last + 1;
    } finally {
      await probe.delete().catch(() => undefined);
    }
  }

  async consume<T>(options: DurableOptions, handler: (events: BusEvent<T>[]) => Promise<void>): Promise<Subscription> {
    const config = {
      durable_name: options.durable,
      ack_policy: AckPolicy.Explicit,
      filter_subject: options.filter,
      ack_wait: this.ackWaitMs * 1_000_000,
      // Room beyond the pipeline's own (two batches handled, two buffered): acks lost in a server restart
      // hold their messages until ack_wait, and must not stop delivery of everything after them meanwhile.
      max_ack_pending: Math.max(options.batchSize * 4, 10_000),
      ...(options.fromTimeMs === undefined
        ? { deliver_policy: DeliverPolicy.All }
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(options.fromTimeMs).toISOString() }),
    };
    const existing = await this.jsm.consumers.info(options.stream, options.durable).catch(() => null);
    if (!existing) await this.jsm.consumers.add(options.stream, config);
    // The settings that may change on a durable follow the configuration.
    else if (existing.config.ack_wait !== config.ack_wait || existing.config.max_ack_pending !== config.max_ack_pending) {
      await this.jsm.consumers.update(options.stream, options.durable, { ack_wait: config.ack_wait, max_ack_pending: config.max_ack_pending });
    }
    const consumer = await this.js.consumers.get(options.stream, options.durable);
    // One continuous pull keeps the next messages arriving while a batch commits.
    const messages = await consumer.consume({ max_messages: options.batchSize * 2, expires: 2_000 });
    const iterator = messages[Symbol.asyncIterator]();
    let pending: Promise<IteratorResult<JsMsg>> | undefined;
    const TIMEOUT = Symbol('timeout');
    const FREE = Symbol('handler free');
    const next = async (waitMs: number): Promise<JsMsg | null | undefined> => {
      pending ??= iterator.next();
      let timer: NodeJS.Timeout | undefined;
      const result = await Promise.race([pending, new Promise<typeof TIMEOUT>((r) => (timer = setTimeout(() => r(TIMEOUT), waitMs)))]);
      clearTimeout(timer);
      if (result === TIMEOUT) return null;
      pending = undefined;
      return result.done ? undefined : result.value;
    };
    let stopped = false;
    let healthy = true;
    void (async () => {
      for await (const status of messages.status()) {
        if (status.type === 'heartbeats_missed' || status.type === 'consumer_not_found' || status.type === 'consumer_deleted') healthy = false;
        if (status.type === 'next' || status.type === 'heartbeat') healthy = true;
      }
    })();
    // Hands a batch to the handler, then acknowledges it (or gives it back).
    const settle = async (batch: JsMsg[]): Promise<void> => {
      try {
        await handler(batch.map((m) => ({ subject: m.subject, seq: m.seq, data: JSON.parse(decoder.decode(m.data)) as T, headers: headersOf(m.headers) })));
      } catch {
        // Not committed: hand the batch back for redelivery.
        for (const m of batch) m.nak(250);
        await new Promise((r) => setTimeout(r, 250));
        return;
      }
      // Explicit acks, one per message: with AckAll a later batch's ack would also
      // acknowledge an earlier batch that failed and is waiting for redelivery.
      for (const m of batch) m.ack();
    };
    const loop = (async () => {
      // Group commit: a batch takes every message already delivered; while the previous batch is
      // still being handled it keeps taking what arrives (up to batchSize, for at most maxWaitMs);
      // once the handler is free it goes at once. A deep queue makes full batches without waiting,
      // a trickle makes batches of one without delay. Two batches are handled at most at a time.
      const running = new Set<Promise<void>>();
      while (!stopped) {
        const first = await next(1_000);
        if (first === undefined) break;
        if (first === null) continue;
        const batch = [first];
        // Resolves when the batches being handled are done (none: the batch takes only what is buffered).
        const free = running.size > 0 ? Promise.all(running).then((): typeof FREE => FREE) : undefined;
        let timer: NodeJS.Timeout | undefined;
        let expired: Promise<typeof TIMEOUT> | undefined;
        let ended = false;
        while (batch.length < options.batchSize) {
          // getPending() may count a message that is not there (never one that is): it only rules out waiting.
          if (free === undefined && messages.getPending() === 0) break;
          pending ??= iterator.next();
          let result: IteratorResult<JsMsg> | typeof TIMEOUT | typeof FREE;
          if (free === undefined) {
            // Handler idle: a buffered message arrives within microtasks, before the next turn of the event loop.
            result = await Promise.race([pending, new Promise<typeof TIMEOUT>((r) => setImmediate(() => r(TIMEOUT)))]);
          } else {
            expired ??= new Promise((r) => (timer = setTimeout(() => r(TIMEOUT), options.maxWaitMs)));
            result = await Promise.race([pending, expired, free]);
          }
          if (result === TIMEOUT || result === FREE) break;
          pending = undefined;
          if (result.done) {
            ended = true;
            break;
          }
          batch.push(result.value);
        }
        clearTimeout(timer);
        const settled: Promise<void> = settle(batch).finally(() => running.delete(settled));
        running.add(settled);
        if (running.size > 1) await Promise.race(running);
        if (ended) break;
      }
      await Promise.all(running);
    })();
    return {
      get healthy() {
        return healthy;
      },
      stop: async () => {
        stopped = true;
        messages.stop();
        await loop;
      },
    };
  }

  /**
   * The matching events after the consumer's ack floor (every event up to the floor is acknowledged).
   * Events above the floor acknowledged out of order still count: at most two batches are in flight.
   */
  async consumerLag(stream: string, durable: string): Promise<ConsumerLag> {
    const info = await this.jsm.consumers.info(stream, durable);
    const filter = info.config.filter_subject ?? info.config.filter_subjects?.[0] ?? '>';
    return this.backlog({ stream, filter, afterSeq: info.ack_floor.stream_seq });
  }

  /** Counts through a short-lived ordered consumer from afterSeq + 1 and reads the first event's store time. */
  async backlog(options: { stream: string; filter: string; afterSeq: number }): Promise<ConsumerLag> {
    const state = (await this.jsm.streams.info(options.stream)).state;
    if (options.afterSeq >= state.last_seq) return { pending: 0, oldestPendingMs: null };
    const consumer = await this.js.consumers.get(options.stream, {
      filter_subjects: options.filter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(options.afterSeq + 1, state.first_seq),
    });
    try {
      const pending = (await consumer.info(true)).num_pending;
      if (pending === 0) return { pending, oldestPendingMs: null };
      const first = await consumer.next({ expires: 2_000 });
      return { pending, oldestPendingMs: first ? Math.floor(first.info.timestampNanos / 1_000_000) : null };
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }

  async lastSeq(stream: string): Promise<number> {
    return (await this.jsm.streams.info(stream)).state.last_seq;
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }
}
