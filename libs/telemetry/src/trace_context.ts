import { randomBytes } from 'node:crypto';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';

const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * The W3C traceparent to carry on a bus message: the caller's, when it sent a valid
 * one, else a new sampled trace. Events published for one request share its trace.
 */
export function traceparentFor(incoming: string | string[] | undefined): string {
  if (typeof incoming === 'string' && TRACEPARENT.test(incoming)) return incoming;
  const ids = nextIds();
  return `00-${ids.slice(0, 32)}-${ids.slice(32)}-01`;
}

/** Random bytes for 170 trace/span id pairs, drawn from the CSPRNG at once rather than twice per event. */
const ID_POOL_PAIRS = 170;
let idPool = '';
let idPoolNext = ID_POOL_PAIRS;

/** 48 random hex digits (a 16-byte trace id and an 8-byte span id), never all zeros in either part. */
function nextIds(): string {
  for (;;) {
    if (idPoolNext >= ID_POOL_PAIRS) {
      idPool = randomBytes(24 * ID_POOL_PAIRS).toString('hex');
      idPoolNext = 0;
    }
    const ids = idPool.slice(idPoolNext * 48, ++idPoolNext * 48);
    // W3C: an all-zero trace id or span id is invalid (probability 2^-64 or less; drawn again).
    if (!/^0{32}/.test(ids) && !/0{16}$/.test(ids)) return ids;
  }
}

/**
 * Until startTracing registers an SDK this is the API's no-op tracer: spans cost an
 * object allocation and record nothing, so the helpers below need no "enabled" checks.
 * Looked up per span, not cached: in an esbuild bundle our sources get the API's ESM
 * build and the SDK its CJS build, and a tracer taken before the SDK started would stay
 * bound to the ESM copy's proxy provider, which never learns of the SDK (the global
 * registry both copies read does).
 */
const tracer = () => trace.getTracer('ctp');

/**
 * Headers that carry the active trace on a bus message. With tracing on, whatever the
 * configured propagator injects (W3C traceparent/tracestate by default) for the active
 * span, so consumers continue this very span; `baggage` is dropped, because it is
 * free-form data a partner may send and has no business in stored events. With tracing
 * off, the traceparent CTP has always sent (the caller's or a new one).
 */
export function messageHeaders(incoming?: string | string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  propagation.inject(context.active(), headers);
  delete headers.baggage;
  headers.traceparent ??= traceparentFor(incoming);
  return headers;
}

/** Ends `span` when `work` settles, marking it failed if `work` throws or rejects. */
function endSpan<T>(span: Span, work: () => Promise<T>): Promise<T> {
  let running: Promise<T>;
  try {
    running = work();
  } catch (error) {
    running = Promise.reject(error);
  }
  return running.then(
    (result) => {
      span.end();
      return result;
    },
    (error: unknown) => {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      throw error;
    },
  );
}

/**
 * Publishes a bus message inside a PRODUCER span (a child of the request's span) and
 * hands `publish` the headers carrying that span's context. `incoming` is the caller's
 * traceparent, kept when tracing is off.
 */
export function publishSpan<T>(subject: string, incoming: string | string[] | undefined, publish: (headers: Record<string, string>) => Promise<T>): Promise<T> {
  const attributes = { 'messaging.system': 'nats', 'messaging.operation.type': 'send', 'messaging.operation.name': 'publish', 'messaging.destination.name': subject };
  return tracer().startActiveSpan(`publish ${subject}`, { kind: SpanKind.PRODUCER, attributes }, (span) => endSpan(span, () => publish(messageHeaders(incoming))));
}

function messageContext(headers: Record<string, string>): SpanContext | undefined {
  return trace.getSpanContext(propagation.extract(ROOT_CONTEXT, headers));
}

/**
 * Runs a consumer's handling of bus messages in a CONSUMER span that continues the
 * producer's trace. For a batch (the ledger writer appends up to 256 events in one
 * transaction) the span's parent is the first message's context and it links to every
 * message's context: one span for one transaction, as OTel's messaging conventions
 * advise for batches, while the common case of a batch of one still reads as a single
 * trace from the request to the append. Messages without a trace context start a new one.
 */
export function consumeSpan<T>(name: string, messages: readonly { headers: Record<string, string>; subject?: string }[], handle: () => Promise<T>): Promise<T> {
  const contexts = messages.map((m) => messageContext(m.headers)).filter((c): c is SpanContext => c !== undefined);
  const parent: Context = contexts[0] ? trace.setSpanContext(ROOT_CONTEXT, contexts[0]) : ROOT_CONTEXT;
  const links: Link[] = messages.length > 1 ? contexts.map((c) => ({ context: c })) : [];
  const attributes: Attributes = { 'messaging.system': 'nats', 'messaging.operation.type': 'process', 'messaging.batch.message_count': messages.length };
  const only = messages.length === 1 ? messages[0] : undefined;
  if (only?.subject) attributes['messaging.destination.name'] = only.subject;
  return tracer().startActiveSpan(name, { kind: SpanKind.CONSUMER, links, attributes }, parent, (span) => endSpan(span, handle));
}

/** A span around one unit of work on a backend no instrumentation covers (postgres.js). */
export function clientSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { kind: SpanKind.CLIENT, attributes }, (span) => endSpan(span, () => work(span)));
}
