import { MemoryBus, type BusEvent } from '@ctp/bus';
import type { IntrospectionResult } from '@ctp/ctp-core';
import { DECISIONS_SUBJECT } from '@ctp/events/internal';
import { registry } from '@ctp/telemetry/internal';
import { DecisionLog } from './decision_log';

const allow = (jti: string): IntrospectionResult => ({ active: true, decision: 'allow', reason: null, sub: 's', jti, scope: ['tone.read'], purpose: 'p' });
type Decisions = { event_id: string; decisions: { jti: string }[] };

async function setup() {
  const bus = new MemoryBus();
  await bus.ensureStreams([{ name: 'L', subjects: ['ctp.ledger.>'], maxAgeMs: 60_000 }]);
  const read = async () => (await bus.read<Decisions>({ stream: 'L', filter: DECISIONS_SUBJECT, fromSeq: 1, max: 1000 })).events;
  return { bus, read };
}

const droppedMetric = async () => (await registry.getSingleMetric('ctp_introspection_decisions_dropped_total')!.get()).values[0]?.value ?? 0;

describe('decision log', () => {
  it('keeps flushing after a flush ran on an empty buffer (an idle server)', async () => {
    const { bus, read } = await setup();
    const log = new DecisionLog({ events: bus, batchSize: 256, flushMs: 60_000 });
    await log.flush(); // the 1 s timer on an idle server does exactly this
    await log.flush();
    log.record(allow('a'), 'svc://x', 'p');
    await log.flush();
    log.record(allow('b'), 'svc://x', 'p');
    await log.flush();
    const events: BusEvent<Decisions>[] = await read();
    expect(events.flatMap((e) => e.data.decisions.map((d) => d.jti))).toEqual(['a', 'b']);
    expect(log.buffered).toBe(0);
  });

  it('flushes on its timer after idle ticks', async () => {
    const { bus, read } = await setup();
    const log = new DecisionLog({ events: bus, flushMs: 20 });
    log.start();
    try {
      await new Promise((r) => setTimeout(r, 100));
      log.record(allow('late'), 'svc://x', 'p');
      const deadline = Date.now() + 5_000;
      while ((await read()).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect((await read()).map((e) => e.data.decisions.map((d) => d.jti))).toEqual([['late']]);
    } finally {
      await log.stop();
    }
  });

  it('publishes full batches in order, one event id each', async () => {
    const { bus, read } = await setup();
    const log = new DecisionLog({ events: bus, batchSize: 3, flushMs: 60_000 });
    for (let i = 0; i < 10; i++) log.record(allow(`j${i}`), 'svc://x', 'p');
    await log.flush();
    const events = await read();
    expect(events.map((e) => e.data.decisions.map((d) => d.jti))).toEqual([['j0', 'j1', 'j2'], ['j3', 'j4', 'j5'], ['j6', 'j7', 'j8'], ['j9']]);
    expect(new Set(events.map((e) => e.data.event_id)).size).toBe(4);
  });

  it('a flush called while one runs resolves only once what was recorded before it is published', async () => {
    const { bus, read } = await setup();
    const slow = { publish: async (...args: Parameters<MemoryBus['publish']>) => (await new Promise((r) => setTimeout(r, 20)), bus.publish(...args)) };
    const log = new DecisionLog({ events: slow, flushMs: 60_000 });
    log.record(allow('first'), 'svc://x', 'p');
    const running = log.flush();
    await new Promise((r) => setImmediate(r));
    log.record(allow('second'), 'svc://x', 'p');
    await log.flush();
    expect((await read()).flatMap((e) => e.data.decisions.map((d) => d.jti))).toEqual(['first', 'second']);
    await running;
  });

  it('keeps the newest decisions while the bus is down, counts the dropped ones, and sends the rest once it is back', async () => {
    const { bus, read } = await setup();
    let down = true;
    const flaky = { publish: (...args: Parameters<MemoryBus['publish']>) => (down ? Promise.reject(new Error('bus down')) : bus.publish(...args)) };
    const before = await droppedMetric();
    const log = new DecisionLog({ events: flaky, batchSize: 4, flushMs: 60_000, maxBuffered: 5 });
    for (let i = 0; i < 8; i++) log.record(allow(`k${i}`), 'svc://x', 'p');
    await log.flush();
    expect([log.buffered, log.dropped, (await droppedMetric()) - before]).toEqual([5, 3, 3]);
    down = false;
    await log.flush();
    expect((await read()).flatMap((e) => e.data.decisions.map((d) => d.jti))).toEqual(['k3', 'k4', 'k5', 'k6', 'k7']);
    expect(log.buffered).toBe(0);
  });
});
