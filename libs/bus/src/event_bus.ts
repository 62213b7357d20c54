/** A stored event as a subscriber receives it. */
export interface BusEvent<T = unknown> {
  subject: string;
  /** Position in its stream: dense, increasing, the same for every reader. */
  seq: number;
  data: T;
  headers: Record<string, string>;
}

export interface StreamSpec {
  name: string;
  subjects: string[];
  /** How long events are kept. */
  maxAgeMs: number;
  /** How long a publish's `msgId` is remembered, so a repeat is not stored again (default 2 min; at most maxAgeMs). */
  duplicateWindowMs?: number;
  /** JetStream replicas (default 1); a stream's replica count can be raised later, on a cluster. */
  replicas?: number;
  /** Most bytes kept (default -1: no limit); past it the oldest events are discarded. */
  maxBytes?: number;
}

export interface SubscribeOptions {
  stream: string;
  /** Subject filter with NATS wildcards (`*` one token, `>` the rest). */
  filter: string;
  /** Deliver from this stream sequence (inclusive). */
  fromSeq?: number;
  /** Deliver events stored at or after this time (ms since the epoch). With neither: only new events. */
  fromTimeMs?: number;
  /** Called when delivery resumes after an interruption (the consumer was recreated). */
  onResume?: () => void;
}

export interface Subscription {
  /** False while the server has stopped answering this subscription (missed heartbeats, lost consumer). */
  readonly healthy: boolean;
  stop(): Promise<void>;
}

export type BusStatus = 'connected' | 'disconnected';

export interface DurableOptions {
  stream: string;
  /** Durable consumer name: its position survives restarts of the consumer and the server. */
  durable: string;
  filter: string;
  /** Most events handed to the handler at once. */
  batchSize: number;
  /** Longest wait for a batch to fill. */
  maxWaitMs: number;
  /** When the durable is first created, start at events stored from this time; default: everything retained. */
  fromTimeMs?: number;
}

export interface PublishOptions {
  headers?: Record<string, string>;
  /** Deduplication id: a second publish with the same id inside the dedup window is not stored again. */
  msgId?: string;
}

export interface ReadOptions {
  stream: string;
  filter: string;
  /** First sequence to examine (inclusive). */
  fromSeq: number;
  /** Most events to examine. */
  max: number;
}

export interface ReadResult<T> {
  events: BusEvent<T>[];
  /** The last sequence examined (matching or not); resume from lastSeq + 1. fromSeq - 1 when nothing was there. */
  lastSeq: number;
  /** The oldest sequence the stream still holds (retention may have dropped older ones). */
  firstSeq: number;
}

/** How far a reader is behind its stream. */
export interface ConsumerLag {
  /** Matching events stored after the reader's position (for a durable: not yet acknowledged). */
  pending: number;
  /** When the oldest of them was stored (ms since the epoch); null when none is pending. */
  oldestPendingMs: number | null;
}

/**
 * The event bus. `publish` resolves only once the event is stored durably (on
 * JetStream: the publish acknowledgement), so a caller that answered its client
 * after `publish` never loses the event. Subscriptions deliver in stream order and
 * survive reconnects without gaps.
 */
export interface EventBus {
  ensureStreams(specs: StreamSpec[]): Promise<void>;
  publish(subject: string, data: object, options?: PublishOptions): Promise<number>;
  /** Stored events from a sequence on, without a consumer (pull reads, resuming push channels). */
  read<T>(options: ReadOptions): Promise<ReadResult<T>>;
  /** The last stored event on exactly `subject` (no wildcards), or null: one lookup, no consumer. */
  lastBySubject<T>(stream: string, subject: string): Promise<BusEvent<T> | null>;
  subscribe<T>(options: SubscribeOptions, handler: (event: BusEvent<T>) => void | Promise<void>): Promise<Subscription>;
  /**
   * At-least-once batches from a durable consumer: a batch is acknowledged only after
   * `handler` resolves, so a crash redelivers it. Handlers must be idempotent.
   * The next batch may be handed over before the previous call resolved (at most two
   * calls outstanding, made in delivery order); a failed batch is redelivered later,
   * possibly after batches that followed it. Handlers that need one batch at a time
   * serialise themselves.
   */
  consume<T>(options: DurableOptions, handler: (events: BusEvent<T>[]) => Promise<void>): Promise<Subscription>;
  /** Lag of a durable consumer: its unacknowledged events and the store time of the oldest one. */
  consumerLag(stream: string, durable: string): Promise<ConsumerLag>;
  /** Lag of any reader that has handled `filter` events up to `afterSeq` (e.g. a subscription's last event). */
  backlog(options: { stream: string; filter: string; afterSeq: number }): Promise<ConsumerLag>;
  /** The last sequence stored in a stream (0 when empty). */
  lastSeq(stream: string): Promise<number>;
  readonly status: BusStatus;
  onStatus(listener: (status: BusStatus) => void): void;
  close(): Promise<void>;
}

/** NATS subject matching: `*` matches one token, `>` one or more trailing tokens. */
export function subjectMatches(filter: string, subject: string): boolean {
  // Token by token, without splitting either string (this runs for every event a filter sees).
  let f = 0;
  let s = 0;
  for (;;) {
    const fEnd = endOfToken(filter, f);
    const sEnd = endOfToken(subject, s);
    const wildcard = fEnd - f === 1 ? filter[f] : undefined;
    // `>` takes this token and all after it (there is one: the subject has not run out).
    if (wildcard === '>') return true;
    if (wildcard !== '*' && !sameToken(filter, f, fEnd, subject, s, sEnd)) return false;
    if (fEnd === filter.length || sEnd === subject.length) return fEnd === filter.length && sEnd === subject.length;
    f = fEnd + 1;
    s = sEnd + 1;
  }
}

function sameToken(a: string, aStart: number, aEnd: number, b: string, bStart: number, bEnd: number): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false;
  for (let i = 0; i < aEnd - aStart; i++) if (a.charCodeAt(aStart + i) !== b.charCodeAt(bStart + i)) return false;
  return true;
}

function endOfToken(text: string, from: number): number {
  const dot = text.indexOf('.', from);
  return dot === -1 ? text.length : dot;
}
