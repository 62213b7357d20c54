import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { Registry } from 'prom-client';
import { countFlaps, HysteresisBreaker, type BreakerTransition } from '@ctp/guard';
import { createLogger } from '@ctp/http';
import { CtpClient } from '@ctp/sdk';
import { FaultProxy, GUIDE_ENVELOPE, NATS_URL, ownLedgerConsumer, PG_URL, type Faults } from '@ctp/testing';
import { upConfigSchema } from './config';
import { startCtp, type RunningCtp } from './up';

/**
 * The guard's breaker around a real CTP, through the TCP fault proxy, over phases of induced
 * faults: it must open under sustained latency or starved bandwidth, close once CTP is healthy,
 * never move while the latency stays inside its hysteresis band, and never flap (the pilot's
 * target: 0 Open<->Closed flaps under induced faults).
 */
describe('breaker stability against ctp up through the fault proxy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctp-breaker-'));
  const schema = `breaker_${randomBytes(4).toString('hex')}`;
  let ctp: RunningCtp;
  let proxy: FaultProxy;
  let token: string;

  beforeAll(async () => {
    // Dev mode on the test PostgreSQL and NATS (the ledger migrates its own schema).
    ctp = await startCtp(upConfigSchema.parse({ CTP_PORT: '0', CTP_DATA_DIR: dir, CTP_NATS_URL: NATS_URL, CTP_DATABASE_URL: PG_URL, CTP_DATABASE_SCHEMA: schema, ...ownLedgerConsumer(`ledger-${schema}`) }), createLogger('test'));
    const target = new URL(ctp.url);
    proxy = await FaultProxy.start({ target: { host: target.hostname, port: Number(target.port) } });
    token = (await new CtpClient({ baseUrl: ctp.url }).issue({ ...GUIDE_ENVELOPE, features: [...GUIDE_ENVELOPE.features] })).token;
  }, 60_000);

  afterAll(async () => {
    await proxy?.close();
    await ctp?.close();
    const admin = postgres(PG_URL, { max: 1, onnotice: () => undefined });
    await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end({ timeout: 2 });
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens under latency and bandwidth stress, closes after, never moves inside the band, 0 flaps', async () => {
    const log: BreakerTransition[] = [];
    const breaker = new HysteresisBreaker({
      name: 'ctp-faults',
      registry: new Registry(),
      alpha: 0.2,
      openErrorRate: 0.5,
      closeErrorRate: 0.1,
      openLatencyMs: 600,
      closeLatencyMs: 150,
      minSamples: 5,
      dwellMs: { closed: 500, open: 500, half_open: 300 },
      probes: 3,
      baseEjectionMs: 1_000,
      maxEjectionMs: 4_000,
      ejectionDecayMs: 30_000,
      onTransition: (t) => log.push(t),
    });
    const client = new CtpClient({ baseUrl: proxy.url, timeoutMs: 3_000, retry: { retries: 0 } });
    const envelope = { ...GUIDE_ENVELOPE, features: [...GUIDE_ENVELOPE.features] };
    const samples: { phase: string; at: number; latencyMs: number; ok: boolean }[] = [];

    /** Calls CTP through the breaker for `ms`, one call at a time; a refused call waits a little. */
    const run = async (phase: string, faults: Partial<Faults>, ms: number, until?: () => boolean) => {
      proxy.clear();
      proxy.set(faults);
      const end = Date.now() + ms;
      const from = Date.now();
      while (Date.now() < end && !(until?.() ?? false)) {
        if (!breaker.tryAcquire()) {
          await new Promise((r) => setTimeout(r, 25));
          continue;
        }
        const started = performance.now();
        let ok = true;
        try {
          ok = (await client.introspect(token, envelope)).decision === 'allow';
        } catch {
          ok = false;
        }
        const latencyMs = performance.now() - started;
        breaker.record({ ok, latencyMs });
        samples.push({ phase, at: Date.now(), latencyMs, ok });
        await new Promise((r) => setTimeout(r, 10));
      }
      return { from, to: Date.now() };
    };
    const transitionsIn = (p: { from: number; to: number }) => log.filter((t) => t.at >= p.from && t.at <= p.to);
    const closed = () => breaker.state === 'closed';

    const baseline = await run('baseline', {}, 2_000);
    // One-way 120..180 ms: a round trip of 240..360 ms plus CTP's own time, inside the band
    // (close 150, open 600) with room for a busy machine.
    const inBand = await run('latency in band', { latencyMs: 120, jitterMs: 60 }, 3_000);
    const latency = await run('latency', { latencyMs: 500, jitterMs: 100 }, 4_000);
    const recovered1 = await run('recovery after latency', {}, 15_000, closed);
    // Healthy for longer than the flap window before the next fault, so a new open is the new fault's.
    const between = await run('baseline between faults', {}, 4_000);
    const bandwidth = await run('bandwidth', { bandwidthBytesPerSec: 1_500 }, 5_000);
    const recovered2 = await run('recovery after bandwidth', {}, 15_000, closed);
    const after = await run('baseline again', {}, 1_500);
    breaker.dispose();

    const summary = log.map((t) => `${t.from}->${t.to} (${t.reason})`);
    expect(transitionsIn(baseline)).toEqual([]);
    expect(transitionsIn(inBand)).toEqual([]);
    expect(transitionsIn(latency).map((t) => t.to)).toContain('open');
    expect(transitionsIn(recovered1).at(-1)?.to).toBe('closed');
    expect(transitionsIn(between)).toEqual([]);
    expect(transitionsIn(bandwidth).map((t) => t.to)).toContain('open');
    expect(transitionsIn(recovered2).at(-1)?.to).toBe('closed');
    expect(transitionsIn(after)).toEqual([]);
    // A flap: an open within 3 s of a close (the phases are 4 s apart). There must be none.
    expect({ flaps: countFlaps(log, 3_000), summary }).toEqual({ flaps: 0, summary });
    expect(samples.filter((s) => s.phase === 'baseline').every((s) => s.ok)).toBe(true);
  }, 90_000);
});
