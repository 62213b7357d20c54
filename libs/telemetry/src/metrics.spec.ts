import { registerLedgerMetrics, registry, revocationPropagation, validationErrors, watchConsumerLag } from './metrics';

describe('metrics', () => {
  it('exports the guide names with their labels', async () => {
    validationErrors.series('revoked').inc();
    revocationPropagation.observe({ channel: 'push' }, 0.004);
    const text = await registry.metrics();
    expect(text).toMatch(/ctp_validation_errors_total\{reason="revoked"\} 1/);
    expect(text).toMatch(/ctp_revocation_propagation_seconds_bucket\{le="0.005",channel="push"\} 1/);
    expect(text).toMatch(/ctp_token_validation_latency_seconds_bucket\{le="0.0001"\}/);
    expect(text).toMatch(/process_cpu_seconds_total/);
    expect(text).not.toMatch(/ctp_ledger_integrity_ok/);
    registerLedgerMetrics();
    expect(await registry.metrics()).toMatch(/ctp_ledger_integrity_ok 0/);
    expect(text).toMatch(/ctp_build_info\{version="[^"]+",node="v\d+/);
  });

  it('zero-initialises the series the absent() alerts and increase() rules watch', async () => {
    registerLedgerMetrics();
    const text = await registry.metrics();
    for (const series of ['ctp_introspections_total{decision="allow"} 0', 'ctp_introspections_total{decision="deny"} 0', 'ctp_revocation_propagation_seconds_count{channel="pull"} 0',
      'ctp_ledger_anchors_total{result="failed"} 0', 'ctp_ledger_retention_runs_total{outcome="error"} 0']) expect(text).toContain(series);
  });

  it('reports each watched bus reader\'s lag per scrape, and drops the series while it cannot be measured', async () => {
    let lag: { pending: number; oldestPendingMs: number | null } | Error = { pending: 7, oldestPendingMs: Date.now() - 30_000 };
    const labels = { consumer: 'test-reader', stream: 'TEST' };
    const unwatch = watchConsumerLag(labels, async () => {
      if (lag instanceof Error) throw lag;
      return lag;
    });
    const scrape = async () => {
      await new Promise((r) => setTimeout(r, 1_001));
      return registry.metrics();
    };
    let text = await registry.metrics();
    expect(text).toContain('ctp_bus_consumer_pending_messages{consumer="test-reader",stream="TEST"} 7');
    const age = Number(/ctp_bus_consumer_oldest_pending_age_seconds\{consumer="test-reader",stream="TEST"\} ([\d.]+)/.exec(text)![1]);
    expect(age).toBeGreaterThanOrEqual(30);
    expect(age).toBeLessThan(40);
    lag = { pending: 0, oldestPendingMs: null };
    text = await scrape();
    expect(text).toContain('ctp_bus_consumer_pending_messages{consumer="test-reader",stream="TEST"} 0');
    expect(text).toContain('ctp_bus_consumer_oldest_pending_age_seconds{consumer="test-reader",stream="TEST"} 0');
    lag = new Error('bus down');
    text = await scrape();
    expect(text).not.toContain('consumer="test-reader"');
    lag = { pending: 1, oldestPendingMs: Date.now() };
    unwatch();
    expect(await scrape()).not.toContain('consumer="test-reader"');
  });
});
