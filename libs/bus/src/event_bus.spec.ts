import { randomBytes } from 'node:crypto';
import { NATS_URL, privateNats, waitFor, type PrivateServer } from '@ctp/testing';
import { subjectMatches, type BusEvent, type EventBus } from './event_bus';
import { MemoryBus } from './memory_bus';
import { NatsBus } from './nats_bus';
import { registry } from '@ctp/telemetry/internal';

async function connectNats(): Promise<NatsBus> {
  try {
    return await NatsBus.connect({ servers: NATS_URL, name: 'bus-spec' });
  } catch (error) {
    throw new Error(`NATS JetStream is not reachable at ${NATS_URL} (.ci/run starts it): ${String(error)}`);
  }
}

function collector<T>() {
  const events: BusEvent<T>[] = [];
  return {
    events,
    handler: (e: BusEvent<T>) => void events.push(e),
    async until(n: number, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      return events;
    },
  };
}

describe('subjectMatches', () => {
  it.each([
    ['a.b', 'a.b', true],
    ['a.*', 'a.b', true],
    ['a.*', 'a.b.c', false],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a', false],
    ['a.b', 'a.c', false],
  ])('%s ~ %s = %s', (filter, subject, expected) => {
    expect(subjectMatches(filter, subject)).toBe(expected);
  });

  it('agrees with token-by-token matching on split strings, for every filter and subject over a small alphabet', () => {
    const reference = (filter: string, subject: string) => {
      const f = filter.split('.');
      const s = subject.split('.');
      for (let i = 0; i < f.length; i++) {
        if (f[i] === '>') return s.length > i;
        if (i >= s.length || (f[i] !== '*' && f[i] !== s[i])) return false;
      }
      return f.length === s.length;
    };
    const tokens = ['a', 'b', 'ab', '', '*', '>'];
    const joins = (max: number, from: string[]): string[] => (max === 0 ? [] : [...from, ...joins(max - 1, from).flatMap((rest) => from.map((t) => `${t}.${rest}`))]);
    const filters = joins(3, tokens);
    const subjects = joins(3, tokens.slice(0, 4));
    for (const filter of filters) for (const subject of subjects) expect([filter, subject, subjectMatches(filter, subject)]).toEqual([filter, subject, reference(filter, subject)]);
  });
});

describe.each([
  ['in-process', async () => new MemoryBus() as EventBus],
  ['NATS JetStream', connectNats as () => Promise<EventBus>],
])('%s bus', (_name, make) => {
  let bus: EventBus;
  let stream: string;
  let prefix: string;
  beforeAll(async () => {
    bus = await make();
  });
  afterAll(() => bus.close());
  beforeEach(async () => {
    const id = randomBytes(4).toString('hex');
    stream = `TEST_${id}`;
    prefix = `test.${id}`;
    await bus.ensureStreams([{ name: stream, subjects: [`${prefix}.>`], maxAgeMs: 60_000 }]);
  });

  it('creates streams idempotently and numbers events densely', async () => {
    await bus.ensureStreams([{ name: stream, subjects: [`${prefix}.>`], maxAgeMs: 60_000 }]);
    expect(await bus.lastSeq(stream)).toBe(0);
    expect(await bus.publish(`${prefix}.a`, { n: 1 })).toBe(1);
    expect(await bus.publish(`${prefix}.b`, { n: 2 }, { headers: { traceparent: '00-abc-def-01' } })).toBe(2);
    expect(await bus.lastSeq(stream)).toBe(2);
  });

  it('replays from a sequence in order, then delivers live events, filtered by subject', async () => {
    for (let i = 1; i <= 5; i++) await bus.publish(`${prefix}.${i % 2 ? 'odd' : 'even'}`, { i }, { headers: { traceparent: `t${i}` } });
    const all = collector<{ i: number }>();
    const odd = collector<{ i: number }>();
    const subAll = await bus.subscribe({ stream, filter: `${prefix}.>`, fromSeq: 2 }, all.handler);
    const subOdd = await bus.subscribe({ stream, filter: `${prefix}.odd`, fromSeq: 1 }, odd.handler);
    await bus.publish(`${prefix}.odd`, { i: 7 });
    expect((await all.until(5)).map((e) => e.data.i)).toEqual([2, 3, 4, 5, 7]);
    expect((await odd.until(4)).map((e) => [e.seq, e.data.i])).toEqual([[1, 1], [3, 3], [5, 5], [6, 7]]);
    expect(all.events[0]!.headers.traceparent).toBe('t2');
    await subAll.stop();
    await subOdd.stop();
  });

  it('stores a repeated message id once', async () => {
    expect(await bus.publish(`${prefix}.r`, { jti: 'a' }, { msgId: 'revoke-a' })).toBe(1);
    expect(await bus.publish(`${prefix}.r`, { jti: 'a' }, { msgId: 'revoke-a' })).toBe(1);
    expect(await bus.publish(`${prefix}.r`, { jti: 'b' }, { msgId: 'revoke-b' })).toBe(2);
  });

  it('finds the last event stored on a subject, without a consumer', async () => {
    expect(await bus.lastBySubject(stream, `${prefix}.owner.a`)).toBeNull();
    await bus.publish(`${prefix}.owner.a`, { v: 1 });
    await bus.publish(`${prefix}.owner.b`, { v: 2 });
    await bus.publish(`${prefix}.owner.a`, { v: 3 }, { headers: { h: 'x' } });
    expect(await bus.lastBySubject(stream, `${prefix}.owner.a`)).toMatchObject({ subject: `${prefix}.owner.a`, seq: 3, data: { v: 3 }, headers: { h: 'x' } });
    expect(await bus.lastBySubject(stream, `${prefix}.owner.b`)).toMatchObject({ seq: 2, data: { v: 2 } });
  });

  it('reads stored events from a sequence without a consumer, reporting how far it looked', async () => {
    expect(await bus.read({ stream, filter: `${prefix}.>`, fromSeq: 1, max: 10 })).toEqual({ events: [], lastSeq: 0, firstSeq: expect.any(Number) });
    for (let i = 1; i <= 6; i++) await bus.publish(`${prefix}.p${i % 3}`, { i }, { headers: { h: `v${i}` } });
    const page = await bus.read<{ i: number }>({ stream, filter: `${prefix}.p1`, fromSeq: 2, max: 3 });
    expect(page.events.map((e) => [e.seq, e.data.i, e.headers.h])).toEqual([[4, 4, 'v4']]);
    expect(page.lastSeq).toBe(4);
    const rest = await bus.read<{ i: number }>({ stream, filter: `${prefix}.>`, fromSeq: 5, max: 100 });
    expect(rest.events.map((e) => e.seq)).toEqual([5, 6]);
    expect((await bus.read({ stream, filter: `${prefix}.>`, fromSeq: 7, max: 100 })).lastSeq).toBe(6);
  });

  it('replays from a start time', async () => {
    await bus.publish(`${prefix}.t`, { i: 1 });
    await new Promise((r) => setTimeout(r, 50));
    const from = Date.now();
    await bus.publish(`${prefix}.t`, { i: 2 });
    const c = collector<{ i: number }>();
    const sub = await bus.subscribe({ stream, filter: `${prefix}.>`, fromTimeMs: from }, c.handler);
    expect((await c.until(1)).map((e) => e.data.i)).toEqual([2]);
    await sub.stop();
  });

  it('consumes durable batches, acknowledged only after the handler succeeds', async () => {
    for (let i = 1; i <= 10; i++) await bus.publish(`${prefix}.d`, { i });
    const seen: number[] = [];
    let failOnce = true;
    const durable = `d${randomBytes(3).toString('hex')}`;
    const sub = await bus.consume<{ i: number }>({ stream, durable, filter: `${prefix}.>`, batchSize: 4, maxWaitMs: 100 }, async (events) => {
      if (failOnce && events.some((e) => e.data.i === 6)) {
        failOnce = false;
        throw new Error('crash before commit');
      }
      seen.push(...events.map((e) => e.data.i));
    });
    // The failed batch comes back after a delay, possibly after the batches behind it.
    await waitFor(() => [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].every((i) => seen.includes(i)));
    await sub.stop();
    expect([...new Set(seen)].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await bus.publish(`${prefix}.d`, { i: 11 });
    const resumed: number[] = [];
    const again = await bus.consume<{ i: number }>({ stream, durable, filter: `${prefix}.>`, batchSize: 4, maxWaitMs: 100 }, async (events) => {
      resumed.push(...events.map((e) => e.data.i));
    });
    await waitFor(() => resumed.includes(11));
    await again.stop();
    expect(resumed).toEqual([11]);
  });

  it('batches by group commit: a trickle goes at once (never waiting maxWaitMs), arrivals during a slow batch go together, never above the cap', async () => {
    const durable = `g${randomBytes(3).toString('hex')}`;
    const batches: number[][] = [];
    let slow = false;
    // maxWaitMs is long: nothing here may wait for it.
    const sub = await bus.consume<{ i: number }>({ stream, durable, filter: `${prefix}.>`, batchSize: 100, maxWaitMs: 20_000 }, async (events) => {
      batches.push(events.map((e) => e.data.i));
      if (slow) await new Promise((r) => setTimeout(r, 500));
    });
    try {
      // A trickle, handler idle: a batch of one, handed over without waiting to fill.
      await bus.publish(`${prefix}.g`, { i: 0 });
      await waitFor(() => batches.length === 1, 10_000, 'the single event');
      expect(batches[0]).toEqual([0]);

      // While a batch is slow, events arriving meanwhile go together in the next one.
      slow = true;
      await bus.publish(`${prefix}.g`, { i: 1 });
      await waitFor(() => batches.length === 2, 10_000, 'the slow batch');
      for (let i = 2; i <= 21; i++) await bus.publish(`${prefix}.g`, { i });
      slow = false;
      await waitFor(() => batches.flat().length === 22, 15_000, 'every event');
      expect(batches.slice(2).length).toBeLessThan(20);
      expect(batches.flat()).toEqual(Array.from({ length: 22 }, (_, i) => i));
      expect(Math.max(...batches.map((b) => b.length))).toBeLessThanOrEqual(100);
    } finally {
      await sub.stop();
    }
  }, 60_000);

  it('reports the lag of a durable consumer and of a reader at a position: pending events and the oldest one\'s store time', async () => {
    const durable = `lag${randomBytes(3).toString('hex')}`;
    const before = Date.now();
    for (let i = 1; i <= 5; i++) await bus.publish(`${prefix}.${i % 2 === 0 ? 'even' : 'odd'}`, { i });
    const after = Date.now();
    expect(await bus.backlog({ stream, filter: `${prefix}.>`, afterSeq: 2 })).toEqual({ pending: 3, oldestPendingMs: expect.any(Number) });
    const odd = await bus.backlog({ stream, filter: `${prefix}.odd`, afterSeq: 1 });
    expect(odd.pending).toBe(2);
    expect(odd.oldestPendingMs).toBeGreaterThanOrEqual(before - 5);
    expect(odd.oldestPendingMs).toBeLessThanOrEqual(after + 5);
    expect(await bus.backlog({ stream, filter: `${prefix}.>`, afterSeq: 5 })).toEqual({ pending: 0, oldestPendingMs: null });

    // A durable that handles only the first three events, then stops: the last two are its lag.
    const handled: number[] = [];
    const sub = await bus.consume<{ i: number }>({ stream, durable, filter: `${prefix}.>`, batchSize: 1, maxWaitMs: 20 }, async (events) => {
      if (events.some((e) => e.data.i > 3)) throw new Error('not yet');
      handled.push(...events.map((e) => e.data.i));
    });
    await waitFor(() => handled.length === 3);
    await sub.stop();
    let lag = await bus.consumerLag(stream, durable);
    for (const deadline = Date.now() + 10_000; lag.pending !== 2 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 100));
      lag = await bus.consumerLag(stream, durable);
    }
    expect(lag.pending).toBe(2);
    const fourth = (await bus.read({ stream, filter: `${prefix}.>`, fromSeq: 4, max: 1 })).events[0]!;
    expect(fourth.data).toEqual({ i: 4 });
    expect(lag.oldestPendingMs).toBeGreaterThanOrEqual(before - 5);
    expect(lag.oldestPendingMs).toBeLessThanOrEqual(after + 5);
  });

  it('delivers only new events without a start sequence', async () => {
    await bus.publish(`${prefix}.x`, { i: 1 });
    const c = collector<{ i: number }>();
    const sub = await bus.subscribe({ stream, filter: `${prefix}.>` }, c.handler);
    await bus.publish(`${prefix}.x`, { i: 2 });
    expect((await c.until(1)).map((e) => e.data.i)).toEqual([2]);
    await new Promise((r) => setTimeout(r, 100));
    expect(c.events).toHaveLength(1);
    await sub.stop();
  });
});

describe('in-process bus limits (ctp up)', () => {
  const spec = { name: 'LIMITED', subjects: ['lim.>'], maxAgeMs: 3_600_000 };
  const gauge = async (name: string) => (await registry.getSingleMetric(name)!.get()).values.find((v) => v.labels.stream === 'LIMITED')?.value;

  it('keeps at most maxEvents per stream, discarding the oldest, and reports its size', async () => {
    const bus = new MemoryBus({ maxEvents: 3 });
    await bus.ensureStreams([spec]);
    for (let i = 1; i <= 5; i++) expect(await bus.publish('lim.a', { i })).toBe(i);
    const page = await bus.read<{ i: number }>({ stream: 'LIMITED', filter: 'lim.>', fromSeq: 1, max: 10 });
    expect([page.firstSeq, page.events.map((e) => [e.seq, e.data.i])]).toEqual([3, [[3, 3], [4, 4], [5, 5]]]);
    expect(await bus.lastSeq('LIMITED')).toBe(5);
    expect(await gauge('ctp_bus_stream_events')).toBe(3);
    const replayed: number[] = [];
    const sub = await bus.subscribe<{ i: number }>({ stream: 'LIMITED', filter: 'lim.>', fromSeq: 1 }, (e) => void replayed.push(e.seq));
    await new Promise((r) => setImmediate(r));
    expect(replayed).toEqual([3, 4, 5]);
    await sub.stop();
  });

  it('forgets the last event of a subject once the limit discards it', async () => {
    const bus = new MemoryBus({ maxEvents: 2 });
    await bus.ensureStreams([spec]);
    await bus.publish('lim.x', { i: 1 });
    await bus.publish('lim.y', { i: 2 });
    expect(await bus.lastBySubject('LIMITED', 'lim.x')).toMatchObject({ seq: 1, data: { i: 1 } });
    await bus.publish('lim.y', { i: 3 });
    expect(await bus.lastBySubject('LIMITED', 'lim.x')).toBeNull();
    await bus.publish('lim.z', { i: 4 });
    expect(await bus.lastBySubject('LIMITED', 'lim.y')).toEqual({ subject: 'lim.y', seq: 3, data: { i: 3 }, headers: {} });
  });

  it('keeps at most maxBytes per stream, and refuses one event larger than that', async () => {
    const bus = new MemoryBus({ maxBytes: 400 });
    await bus.ensureStreams([spec]);
    for (let i = 1; i <= 50; i++) await bus.publish('lim.b', { i, pad: 'x'.repeat(40) });
    const page = await bus.read({ stream: 'LIMITED', filter: 'lim.>', fromSeq: 1, max: 100 });
    expect(page.events.length).toBeGreaterThan(1);
    expect(page.events.length).toBeLessThan(10);
    expect(page.events[page.events.length - 1]!.seq).toBe(50);
    const bytes = (await gauge('ctp_bus_stream_bytes'))!;
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(400);
    await expect(bus.publish('lim.b', { pad: 'x'.repeat(500) })).rejects.toThrow(/exceeds the stream limit/);
  });

  it('holds a bounded number of events however many were published', async () => {
    const bus = new MemoryBus({ maxEvents: 1_000 });
    await bus.ensureStreams([spec]);
    for (let i = 1; i <= 20_000; i++) await bus.publish('lim.c', { i });
    const page = await bus.read<{ i: number }>({ stream: 'LIMITED', filter: 'lim.>', fromSeq: 19_990, max: 100 });
    expect(page.events.map((e) => e.data.i)).toEqual(Array.from({ length: 11 }, (_, k) => 19_990 + k));
    expect(await gauge('ctp_bus_stream_events')).toBe(1_000);
  });

  it('keeps delivering to a subscriber whose handler failed on one event', async () => {
    const bus = new MemoryBus();
    await bus.ensureStreams([spec]);
    const seen: number[] = [];
    await bus.subscribe<{ i: number }>({ stream: 'LIMITED', filter: 'lim.>' }, async (e) => {
      if (e.data.i === 1) throw new Error('handler failed');
      seen.push(e.data.i);
    });
    for (let i = 1; i <= 3; i++) await bus.publish('lim.d', { i });
    await waitFor(() => seen.length === 2, 2_000);
    expect(seen).toEqual([2, 3]);
  });
});

describe('NATS subscriptions across server restarts (private server)', () => {
  let server: PrivateServer;
  let bus: NatsBus;
  beforeAll(async () => {
    server = await privateNats();
    bus = await NatsBus.connect({ servers: server.url, name: 'bus-restart-spec' });
  });
  afterAll(async () => {
    await bus.close();
    await server.destroy();
  });
  // Whatever a test did, the next one starts with the server running.
  afterEach(() => server.start());

  const restart = async () => {
    await server.stop();
    await waitFor(() => bus.status === 'disconnected');
    await server.start();
    await waitFor(() => bus.status === 'connected', 15_000);
  };

  it.each([
    ['a start time', (t0: number) => ({ fromTimeMs: t0 })],
    ['a start sequence', () => ({ fromSeq: 1 })],
    ['new events only', () => ({})],
  ])('resumes after the last event seen when started from %s, and says when it is not delivering', async (_name, start) => {
    const id = randomBytes(4).toString('hex');
    const stream = `RESTART_${id}`;
    await bus.ensureStreams([{ name: stream, subjects: [`restart.${id}.>`], maxAgeMs: 60_000 }]);
    const t0 = Date.now();
    const c = collector<{ i: number }>();
    const resumed: number[] = [];
    const sub = await bus.subscribe({ stream, filter: `restart.${id}.>`, ...start(t0), onResume: () => resumed.push(Date.now()) }, c.handler);
    await bus.publish(`restart.${id}.a`, { i: 1 });
    await c.until(1);
    for (let round = 0; round < 2; round++) {
      await restart();
      await bus.publish(`restart.${id}.a`, { i: 2 + round });
      await c.until(2 + round, 15_000);
      expect(c.events.map((e) => e.data.i)).toEqual(Array.from({ length: 2 + round }, (_, k) => k + 1));
      await waitFor(() => sub.healthy, 5_000);
    }
    expect(resumed.length).toBeGreaterThanOrEqual(2);
    await server.stop();
    await waitFor(() => !sub.healthy, 8_000);
    await server.start();
    await waitFor(() => sub.healthy, 15_000);
    await sub.stop();
  });
});

describe('in-process bus retention', () => {
  it('forgets message ids after the stream duplicate window, and subjects with their last event', async () => {
    const bus = new MemoryBus();
    await bus.ensureStreams([{ name: 'S', subjects: ['s.>'], maxAgeMs: 40, duplicateWindowMs: 20 }]);
    expect(await bus.publish('s.a', { n: 1 }, { msgId: 'x' })).toBe(1);
    expect(await bus.publish('s.a', { n: 1 }, { msgId: 'x' })).toBe(1);
    await new Promise((r) => setTimeout(r, 30));
    expect(await bus.publish('s.b', { n: 2 }, { msgId: 'x' })).toBe(2);
    await new Promise((r) => setTimeout(r, 50));
    expect(await bus.lastBySubject('S', 's.a')).toBeNull();
    await bus.publish('s.c', { n: 3 });
    expect(await bus.lastBySubject('S', 's.b')).toBeNull();
    expect(await bus.lastBySubject('S', 's.c')).toMatchObject({ seq: 3 });
  });
});
