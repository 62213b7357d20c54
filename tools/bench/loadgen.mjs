// A small open-loop HTTP/1.1 load generator for fixed-rate latency measurements.
//
// Why not autocannon's overallRate: autocannon rate-limits each connection per
// one-second window (a connection sends its share back to back, then pauses until
// the next second), so "1,000 req/s" arrives as a burst at the start of every
// second, and it records latency in whole milliseconds (too coarse for a 2 ms
// target). This generator sends request i at t0 + i/rate (setTimeout pacing: due
// requests are sent on each timer tick, ~1 ms granularity), each on an idle
// keep-alive connection, opening another (up to maxConnections) when none is idle,
// so a slow response never delays the next request. Latency is timed with
// performance.now() from the write of the request to the last byte of the response;
// a request that had to wait for a connection is timed from when it was due, so a
// saturated server is not hidden (no coordinated omission). Pacing lateness (send
// time minus due time) is reported separately. Loopback only; every run is bounded
// by a request count and a hard deadline.
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

/** Self-check: how long this (generator) process itself was stalled by GC or a blocked event loop. */
function stallMonitor() {
  let gcMax = 0;
  let gcTotal = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcTotal += e.duration;
      if (e.duration > gcMax) gcMax = e.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  return () => {
    observer.disconnect();
    loop.disable();
    return { gen_gc_max_ms: Math.round(gcMax * 100) / 100, gen_gc_total_ms: Math.round(gcTotal), gen_loop_delay_max_ms: Math.round(loop.max / 1e4) / 100 };
  };
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** A POST with a JSON body, or a GET when `body` is undefined. */
function requestBuffer(host, port, path, body) {
  if (body === undefined) return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`, 'latin1');
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  const head = `POST ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

/** One keep-alive connection with at most one request in flight. */
class Connection {
  /** `tls`: the PEM CA to trust; the connection is then TLS 1.3 (the topology's Ingress). */
  constructor(host, port, onResponse, onClose, tls) {
    this.buf = null;
    this.busy = false;
    this.closed = false;
    this.pending = undefined;
    this.socket = tls ? tlsConnect({ host, port, ca: tls, minVersion: 'TLSv1.3', noDelay: true }) : connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk) => {
      this.buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
      this.parse(onResponse);
    });
    const closed = () => {
      if (this.closed) return;
      this.closed = true;
      onClose(this);
    };
    this.socket.on('error', closed);
    this.socket.on('close', closed);
  }

  send(buffer, pending) {
    this.busy = true;
    this.pending = pending;
    this.socket.write(buffer);
  }

  parse(onResponse) {
    const buf = this.buf;
    const end = buf.indexOf(HEADER_END);
    if (end < 0) return;
    const head = buf.toString('latin1', 0, end);
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const length = m ? Number(m[1]) : 0;
    const total = end + 4 + length;
    if (buf.length < total) return;
    const status = Number(head.slice(9, 12));
    const body = buf.subarray(end + 4, total);
    this.buf = buf.length > total ? buf.subarray(total) : null;
    const pending = this.pending;
    this.pending = undefined;
    this.busy = false;
    onResponse(this, status, body, pending);
  }

  close() {
    this.closed = true;
    this.socket.destroy();
  }
}

export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * Open loop at a fixed rate. `body(i)` gives the body of request i (string or Buffer); without
 * `body` the requests are GETs. `path` is a string, or `path(i)` gives the path of request i.
 * The first warmupMs worth of requests are sent but not recorded.
 * `check(status, bodyBuffer)` returns true when a response counts as correct.
 */
export async function paced({
  host = '127.0.0.1',
  port,
  path,
  rate,
  durationMs,
  warmupMs = 0,
  body,
  check = (status) => status >= 200 && status < 300,
  initialConnections,
  maxConnections = 256,
  drainMs = 5_000,
  tls,
}) {
  if (host !== '127.0.0.1') throw new Error('loopback only');
  const interval = 1000 / rate;
  const warmupCount = Math.round((warmupMs / 1000) * rate);
  const measuredCount = Math.round((durationMs / 1000) * rate);
  const total = warmupCount + measuredCount;
  const latencies = new Float64Array(measuredCount);
  const lags = new Float64Array(measuredCount);
  let recorded = 0;
  let completed = 0;
  let bad = 0;
  let errors = 0;
  let waited = 0;
  let opened = 0;
  let firstMeasuredSend = Infinity;
  let lastMeasuredDone = 0;
  const idle = [];
  const all = new Set();
  const waiting = [];
  let resolveDone;
  const done = new Promise((r) => (resolveDone = r));

  const onResponse = (conn, status, responseBody, pending) => {
    const now = performance.now();
    completed++;
    if (!check(status, responseBody)) bad++;
    if (pending.i >= warmupCount) {
      const from = pending.waited ? pending.due : pending.sent;
      latencies[recorded] = now - from;
      lags[recorded] = pending.sent - pending.due;
      recorded++;
      if (now > lastMeasuredDone) lastMeasuredDone = now;
    }
    release(conn);
    if (completed + errors >= total) resolveDone();
  };
  const onClose = (conn) => {
    all.delete(conn);
    const at = idle.indexOf(conn);
    if (at >= 0) idle.splice(at, 1);
    if (conn.pending) {
      errors++;
      conn.pending = undefined;
      if (completed + errors >= total) resolveDone();
    }
  };
  const open = () => {
    const conn = new Connection(host, port, onResponse, onClose, tls);
    opened++;
    all.add(conn);
    return conn;
  };
  const release = (conn) => {
    const next = waiting.shift();
    if (next) return dispatch(conn, next);
    idle.push(conn);
  };
  const dispatch = (conn, pending) => {
    pending.sent = performance.now();
    if (pending.i === warmupCount) firstMeasuredSend = pending.sent;
    conn.send(requestBuffer(host, port, typeof path === 'function' ? path(pending.i) : path, body?.(pending.i)), pending);
  };
  const submit = (i, due) => {
    const pending = { i, due, sent: 0, waited: false };
    let conn = idle.pop();
    while (conn && conn.closed) conn = idle.pop();
    if (!conn && all.size < maxConnections) conn = open();
    if (conn) return dispatch(conn, pending);
    pending.waited = true;
    waited++;
    waiting.push(pending);
  };

  const initial = Math.min(maxConnections, initialConnections ?? Math.max(4, Math.ceil(rate / 500)));
  for (let c = 0; c < initial; c++) idle.push(open());
  await new Promise((r) => setTimeout(r, 100));

  const stopMonitor = stallMonitor();
  const t0 = performance.now() + 5;
  let next = 0;
  await new Promise((resolveSent) => {
    const tick = () => {
      const now = performance.now();
      while (next < total && t0 + next * interval <= now) {
        submit(next, t0 + next * interval);
        next++;
      }
      if (next >= total) return resolveSent();
      setTimeout(tick, Math.max(0, t0 + next * interval - performance.now()));
    };
    tick();
  });
  const sentAt = performance.now();
  let timer;
  await Promise.race([done, new Promise((r) => (timer = setTimeout(r, drainMs)))]);
  clearTimeout(timer);
  const unanswered = total - completed - errors;
  for (const conn of all) conn.close();
  const stalls = stopMonitor();

  const lat = Array.from(latencies.subarray(0, recorded)).sort((a, b) => a - b);
  const lag = Array.from(lags.subarray(0, recorded)).sort((a, b) => a - b);
  const window = (lastMeasuredDone - firstMeasuredSend) / 1000;
  return {
    target_rate: rate,
    duration_s: durationMs / 1000,
    warmup_s: warmupMs / 1000,
    sent: total,
    samples: recorded,
    achieved_rate: window > 0 ? Math.round(recorded / window) : 0,
    send_window_s: Math.round((sentAt - t0) / 10) / 100,
    bad_responses: bad,
    errors: errors + unanswered,
    waited_for_connection: waited,
    connections: opened,
    p50_ms: quantile(lat, 0.5),
    p90_ms: quantile(lat, 0.9),
    p99_ms: quantile(lat, 0.99),
    p999_ms: quantile(lat, 0.999),
    max_ms: lat.length ? lat[lat.length - 1] : NaN,
    mean_ms: lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : NaN,
    pacing_lag_p99_ms: quantile(lag, 0.99),
    ...stalls,
  };
}

/**
 * Closed loop with a fixed request count: `connections` connections each send the
 * next request as soon as the previous answer arrives. Returns the response bodies
 * (as strings) when collect is set. Bounded by count and by timeoutMs.
 */
export async function closedCount({ host = '127.0.0.1', port, path, connections, count, body, collect = false, timeoutMs = 120_000, tls }) {
  if (host !== '127.0.0.1') throw new Error('loopback only');
  const bodies = collect ? new Array(count) : undefined;
  let next = 0;
  let completed = 0;
  let failed = 0;
  let resolveDone;
  const done = new Promise((r) => (resolveDone = r));
  const conns = [];
  const sendNext = (conn) => {
    if (next >= count) return;
    const i = next++;
    conn.send(requestBuffer(host, port, path, body(i)), { i });
  };
  const onResponse = (conn, status, responseBody, pending) => {
    completed++;
    if (status < 200 || status >= 300) failed++;
    else if (bodies) bodies[pending.i] = responseBody.toString('utf8');
    if (completed >= count) return resolveDone();
    sendNext(conn);
  };
  const onClose = (conn) => {
    if (conn.pending) {
      conn.pending = undefined;
      failed++;
      completed++;
      if (completed >= count) return resolveDone();
    }
    if (next < count) {
      const fresh = new Connection(host, port, onResponse, onClose, tls);
      conns.push(fresh);
      sendNext(fresh);
    }
  };
  const started = performance.now();
  for (let c = 0; c < Math.min(connections, count); c++) {
    const conn = new Connection(host, port, onResponse, onClose, tls);
    conns.push(conn);
    sendNext(conn);
  }
  let timer;
  await Promise.race([done, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
  clearTimeout(timer);
  for (const conn of conns) conn.close();
  const seconds = (performance.now() - started) / 1000;
  return { completed, failed, seconds, rate: Math.round(completed / seconds), bodies: bodies?.filter(Boolean) };
}
