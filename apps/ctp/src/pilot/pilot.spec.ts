import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cycloneDxValidator, REPO_ROOT } from '@ctp/testing';
import type { PilotMetric } from './report';

/**
 * `ctp pilot --quick` end to end: ctp up, the fault proxy and the demo processor on loopback, the five days
 * in order. Every artefact of the plan is written, and every success metric of the spec is met (the
 * relax-mode latency is only required to be measured: it is a timing figure).
 */
describe('ctp pilot --quick', () => {
  const out = mkdtempSync(join(tmpdir(), 'ctp-pilot-test-'));
  let code: number | null = null;
  let output = '';
  let root = '';

  beforeAll(async () => {
    const child = spawn(process.execPath, ['apps/ctp/bin/ctp.js', 'pilot', '--quick', '--out', out], { cwd: REPO_ROOT, env: { ...process.env, LOG_LEVEL: 'error' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const [date] = readdirSync(out);
    root = join(out, date ?? 'missing');
  }, 280_000);

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs the five days in order, printing progress, and exits 0', () => {
    expect({ code, output: code === 0 ? '' : output }).toEqual({ code: 0, output: '' });
    const order = [1, 2, 3, 4, 5].map((d) => output.indexOf(`day ${d}:`));
    expect(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]!))).toBe(true);
  });

  it('writes every artefact of the plan', () => {
    const files = ['day1/signed-requests.jsonl', 'day1/receipt.json', 'day2/receipt-hybrid.json', 'day3/breaker-transitions.json', 'day3/latency.png', 'day3/breaker-state.png', 'day4/pack.zip', 'day4/verify.txt', 'day5/policy.diff', 'day5/receipts-fallback.json', 'cbom.json', 'report.html'];
    for (const file of files) expect([file, existsSync(join(root, file)) && statSync(join(root, file)).size > 0]).toEqual([file, true]);
    const png = readFileSync(join(root, 'day3/latency.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(readFileSync(join(root, 'day4/verify.txt'), 'utf8')).toMatch(/^OK .*pack\.zip$/m);
    expect(readFileSync(join(root, 'day5/policy.diff'), 'utf8')).toMatch(/^\+@id\("floor\.analyse-degrade"\)$/m);
  });

  it('keeps tokens and keys out of the signed-request log, and shows the receipts the plan asks for', () => {
    const log = readFileSync(join(root, 'day1/signed-requests.jsonl'), 'utf8');
    expect(log).not.toMatch(/eyJ|PRIVATE KEY|ctp-consent-token|signature/i);
    const lines = log.trim().split('\n').map((l) => JSON.parse(l) as { status: number; label: string; code?: string });
    expect(lines.filter((l) => l.label === 'baseline').every((l) => l.status === 200)).toBe(true);
    const receipt = JSON.parse(readFileSync(join(root, 'day1/receipt.json'), 'utf8')) as { receipt: { decision: string }; inclusion: unknown };
    expect(receipt.receipt.decision).toBe('allow');
    expect(receipt.inclusion).not.toBeNull();
    const hybrid = JSON.parse(readFileSync(join(root, 'day2/receipt-hybrid.json'), 'utf8')) as { receipt: { algs: string[] } };
    expect(hybrid.receipt.algs).toEqual(['ES256', 'ML-DSA-65']);
    const transitions = JSON.parse(readFileSync(join(root, 'day3/breaker-transitions.json'), 'utf8')) as { flaps: number; transitions: { to: string }[] };
    expect(transitions.transitions.map((t) => t.to)).toEqual(expect.arrayContaining(['open', 'half_open', 'closed']));
    const fallback = JSON.parse(readFileSync(join(root, 'day5/receipts-fallback.json'), 'utf8')) as { count: number; receipts: { decision: string; breaker_state: string }[] };
    expect(fallback.count).toBeGreaterThan(0);
    expect(fallback.receipts.every((r) => r.decision === 'allow' && r.breaker_state !== 'closed')).toBe(true);
  });

  it('reports every success metric of the spec as met, and a valid CycloneDX 1.6 CBOM', () => {
    const report = JSON.parse(readFileSync(join(root, 'report.json'), 'utf8')) as { metrics: PilotMetric[]; all_met: boolean };
    expect(report.metrics.map((m) => m.category)).toEqual(expect.arrayContaining(['Handshake', 'Breaker Stability', 'Latency Control', 'Evidence Integrity', 'Policy Safety']));
    // Every metric is met except possibly the relax-mode latency: a difference of two latencies measured
    // on the test machine, which a loaded machine can tip (the full pilot and BENCHMARKS.md report it).
    expect(report.metrics.filter((m) => !m.met && m.category !== 'Latency Control')).toEqual([]);
    expect(report.metrics.find((m) => m.category === 'Latency Control')?.measured).toMatch(/ms/);
    const html = readFileSync(join(root, 'report.html'), 'utf8');
    for (const m of report.metrics) expect(html).toContain(m.category);
    expect(html).not.toContain('class="missed"');
    const cbom = JSON.parse(readFileSync(join(root, 'cbom.json'), 'utf8')) as Record<string, unknown>;
    expect(cycloneDxValidator(REPO_ROOT)(cbom)).toEqual({ valid: true, errors: [] });
  });
});
