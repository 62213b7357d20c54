import { renderReport, type PilotReport } from './report';

const base: PilotReport = {
  title: 'Signet pilot',
  generatedAt: new Date('2026-12-06T10:00:00Z'),
  metrics: [
    { category: 'Handshake', metric: 'Signed request success', target: '> 99% during baseline', measured: '100% (500 of 500)', met: true },
    { category: 'Breaker Stability', metric: 'Open/Closed flaps', target: '0 under induced faults', measured: '1', met: false },
  ],
  days: [{ day: 3, activity: 'Breaker fault injection', artefacts: [{ name: 'transitions', href: 'day3/transitions.json' }], images: [{ alt: 'latency and breaker state', src: 'day3/breaker.png' }] }],
};

describe('renderReport', () => {
  it('shows every metric with its target, measurement and result, and the overall verdict', () => {
    const html = renderReport(base);
    expect(html).toContain('<td>Signed request success</td><td>&gt; 99% during baseline</td><td>100% (500 of 500)</td><td class="met">met</td>');
    expect(html).toContain('<td class="missed">missed</td>');
    expect(html).toContain('not every success metric met');
    expect(html).toContain('<img src="day3/breaker.png" alt="latency and breaker state">');
    expect(renderReport({ ...base, metrics: [base.metrics[0]!] })).toContain('every success metric met');
  });

  it('escapes text and refuses artefact links that are not relative file names', () => {
    expect(renderReport({ ...base, title: '<script>x</script>' })).toContain('&lt;script&gt;x&lt;/script&gt;');
    for (const bad of ['javascript:alert(1)', '../../etc/passwd', 'a b.png'])
      expect(() => renderReport({ ...base, days: [{ day: 1, activity: 'x', artefacts: [{ name: 'x', href: bad }] }] })).toThrow('not a relative artefact path');
  });
});
