import { registerLedgerMetrics, registry, revocationPropagation, validationErrors } from './metrics';

describe('metrics', () => {
  it('exports the guide names with their labels', async () => {
    validationErrors.inc({ reason: 'revoked' });
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
});
