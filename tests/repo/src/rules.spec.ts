import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DASHBOARD_FILE, read, readYaml, render, ROOT, RULES_FILE, RUNBOOKS, TESTED_RUNBOOK_BASE, promtool, type JsonObject } from './repo';

/**
 * The Prometheus rules, their runbooks and promtool unit tests, the Grafana dashboard, and the umbrella
 * chart's templated copies of both (equal to the tested files apart from the runbook link base).
 */
type Panel = { id: number; type: string; title: string; datasource?: { uid: string }; targets?: { expr: string; datasource?: { uid: string } }[]; panels?: Panel[]; gridPos: { x: number; y: number; w: number; h: number } };

const rules = readYaml(RULES_FILE) as { groups: { name: string; rules: JsonObject[] }[] };
const alertRules = rules.groups.flatMap((g) => g.rules).filter((r) => typeof r.alert === 'string') as {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}[];
const alertNames = [...new Set(alertRules.map((r) => r.alert))];
const dashboard = JSON.parse(read(DASHBOARD_FILE)) as JsonObject;
const panels = (dashboard.panels as unknown as Panel[]).flatMap((p) => [p, ...(p.panels ?? [])]);
const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
const metricsSource = read(join(ROOT, 'libs/telemetry/src/metrics.ts'));

describe('Prometheus rules and runbooks', () => {
  it('every alert has a severity, summary, description and a runbook that exists', () => {
    for (const rule of alertRules) {
      expect([rule.alert, rule.labels.severity]).toEqual([rule.alert, expect.stringMatching(/^(critical|warning)$/)]);
      if (rule.labels.sloth_severity) expect([rule.alert, rule.labels.severity]).toEqual([rule.alert, rule.labels.sloth_severity === 'page' ? 'critical' : 'warning']);
      expect(rule.annotations.summary).toBeTruthy();
      expect(rule.annotations.description).toBeTruthy();
      expect(rule.annotations.runbook_url).toBe(`${TESTED_RUNBOOK_BASE}/${rule.alert}.md`);
    }
    for (const name of alertNames) {
      const runbook = join(RUNBOOKS, `${name}.md`);
      expect([name, existsSync(runbook)]).toEqual([name, true]);
      const text = read(runbook);
      for (const section of ['## What it means', '## Impact', '## How to check', '## What to do', '## Escalation']) {
        expect([name, text.includes(section)]).toEqual([name, true]);
      }
    }
    const runbooks = readdirSync(RUNBOOKS).filter((f) => f.endsWith('.md') && f !== 'README.md');
    expect(runbooks.map((f) => f.replace(/\.md$/, '')).sort()).toEqual([...alertNames].sort());
  });

  it('every alert has promtool unit tests that show it firing and staying silent', () => {
    const tests = readdirSync(join(ROOT, 'infra/tests')).filter((f) => f.endsWith('.test.yaml')).map((f) => parse(read(join(ROOT, 'infra/tests', f))) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
    });
    const checks = tests.flatMap((t) => t.tests).flatMap((t) => t.alert_rule_test ?? []);
    for (const name of alertNames) {
      const mine = checks.filter((c) => c.alertname === name);
      expect([name, mine.some((c) => c.exp_alerts.length > 0), mine.some((c) => c.exp_alerts.length === 0)]).toEqual([name, true, true]);
    }
  });

  it('every metric the services export feeds an alert or the dashboard', () => {
    const exported = [...metricsSource.matchAll(/name: '(ctp_[a-z_]+)'/g)].map((m) => m[1]!);
    const used = `${read(RULES_FILE)}\n${queries.map((q) => q.expr).join('\n')}\n${JSON.stringify(dashboard.templating)}`;
    expect(exported.filter((name) => !used.includes(name))).toEqual([]);
  });

  it('docs/operations.md lists every alert with its runbook', () => {
    const operations = read(join(ROOT, 'docs/operations.md'));
    for (const name of alertNames) expect([name, operations.includes(`| ${name} |`) && operations.includes(`(runbooks/${name}.md)`)]).toEqual([name, true]);
  });

  it("includes the guide's three alerts and the burn-rate pairs, each with a low-traffic guard", () => {
    const byName = (name: string) => alertRules.filter((r) => r.alert === name);
    expect(byName('CTPValidationLatencyP99High')[0]).toMatchObject({ for: '10m', labels: { severity: 'critical' } });
    expect(byName('CTPValidationLatencyP99High')[0]!.expr).toContain('histogram_quantile(0.99, sum by (namespace, le) (rate(ctp_token_validation_latency_seconds_bucket[5m]))) >= 0.01');
    expect(byName('CTPRevocationPropagationSlow')[0]).toMatchObject({ for: '5m', labels: { severity: 'critical' } });
    expect(byName('CTPValidationErrorsHigh')[0]).toMatchObject({ for: '10m', labels: { severity: 'warning' } });
    for (const rule of alertRules.filter((r) => r.labels.sloth_severity)) {
      const windows = rule.labels.sloth_severity === 'page' ? ['5m', '1h', '30m', '6h'] : ['2h', '1d', '6h', '3d'];
      for (const w of windows) expect(rule.expr).toContain(`slo:sli_error:ratio_rate${w}{`);
      expect(rule.expr).toMatch(/slo:sli_events:increase\w+\{[^}]+\} >= \d+/);
    }
    for (const name of ['CTPValidationLatencyP99High', 'CTPRevocationPropagationSlow', 'CTPValidationErrorsHigh']) {
      expect(byName(name)[0]!.expr).toMatch(/increase\([^)]*\[5m\]\)\) >= \d+/);
    }
  });

  it('uses only metrics the services export, and histogram buckets that exist', () => {
    const exported = new Set([...metricsSource.matchAll(/name: '(ctp_[a-z_]+)'/g)].map((m) => m[1]!));
    const used = new Set(
      [read(RULES_FILE), ...queries.map((q) => q.expr)]
        .flatMap((text) => [...text.matchAll(/\b(ctp_[a-z_]+)/g)].map((m) => m[1]!))
        .map((name) => name.replace(/_(bucket|count|sum)$/, '')),
    );
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
    const buckets = (name: string) => JSON.parse(new RegExp(`${name} = (\\[[^\\]]*\\])`).exec(metricsSource)![1]!) as number[];
    expect(buckets('VALIDATION_BUCKETS')).toContain(0.01);
    expect(buckets('PROPAGATION_BUCKETS')).toEqual(expect.arrayContaining([1, 5]));
  });
});

describe('Grafana dashboard', () => {
  it('uses a datasource template variable and only that datasource', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const variables = (dashboard.templating as { list: { name: string; type: string; query: unknown }[] }).list;
    expect(variables).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }));
    for (const panel of panels.filter((p) => p.type !== 'row')) {
      expect([panel.title, panel.datasource?.uid]).toEqual([panel.title, '${datasource}']);
      for (const target of panel.targets ?? []) expect([panel.title, target.datasource?.uid]).toEqual([panel.title, '${datasource}']);
      expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24);
    }
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
  });

  it('lays out its top-level panels without overlap (rows of merged branches share one grid)', () => {
    const top = dashboard.panels as unknown as Panel[];
    const overlapping: string[] = [];
    top.forEach((a, i) => {
      for (const b of top.slice(i + 1)) {
        const apart = a.gridPos.x + a.gridPos.w <= b.gridPos.x || b.gridPos.x + b.gridPos.w <= a.gridPos.x || a.gridPos.y + a.gridPos.h <= b.gridPos.y || b.gridPos.y + b.gridPos.h <= a.gridPos.y;
        if (!apart) overlapping.push(`${a.title} / ${b.title}`);
      }
    });
    expect(overlapping).toEqual([]);
  });

  it('has the panels operations relies on', () => {
    const has = (title: RegExp, expr: RegExp) =>
      expect([title.source, queries.some((q) => title.test(q.panel) && expr.test(q.expr))]).toEqual([title.source, true]);
    for (const q of ['0.5', '0.95', '0.99']) has(/Validation latency p50/, new RegExp(`histogram_quantile\\(${q}, .*ctp_token_validation_latency_seconds_bucket`));
    has(/Validation errors by reason/, /sum by \(reason\) \(rate\(ctp_validation_errors_total/);
    has(/propagation p95 \/ p99 by channel/, /histogram_quantile\(0\.95, sum by \(channel, le\)/);
    has(/propagation p95 \/ p99 by channel/, /histogram_quantile\(0\.99, sum by \(channel, le\)/);
    has(/Ledger append latency p99/, /histogram_quantile\(0\.99, .*ctp_ledger_append_latency_seconds_bucket/);
    has(/Ledger integrity/, /ctp_ledger_integrity_ok/);
    has(/Consents issued and revoked/, /ctp_consent_issued_total/);
    has(/Consents issued and revoked/, /ctp_consent_revoked_total/);
    has(/Revocation rate/, /ctp_consent_revoked_total.*\/.*ctp_consent_issued_total/);
    has(/Consent rate \(agreed \/ shown/, /ctp:consent_rate:ratio_rate1d/);
    has(/Revocation rate \(revoked \/ agreed/, /ctp:revocation_rate:ratio_rate1d/);
    has(/burn rate/i, /slo:sli_error:ratio_rate1h/);
    has(/Error budget left/, /slo:period_error_budget_remaining:ratio/);
    has(/Request rate by route/, /sum by \(route\) \(rate\(ctp_http_requests_total/);
    has(/5xx ratio by route/, /status=~"5\.\."/);
    has(/Bus consumer lag/, /ctp_bus_consumer_oldest_pending_age_seconds\{[^}]*consumer="ledger-writer"/);
    has(/Bus consumer lag/, /ctp_bus_consumer_oldest_pending_age_seconds\{[^}]*consumer="revocation-sync"/);
    has(/Bus consumer pending/, /ctp_bus_consumer_pending_messages/);
    has(/Anchoring/, /ctp_ledger_anchors_total/);
  });
});


describe('the umbrella chart ships the tested rules and dashboard', () => {
  const base = 'https://wiki.example.com/ctp/runbooks';
  const { objects } = render('ctp', ['-f', 'ctp/ci/ci-values.yaml', '--set', `runbooks.baseUrl=${base}`]);
  const unbased = (text: string) => text.replaceAll(base, TESTED_RUNBOOK_BASE);

  it('charts/ctp/files/ holds byte-identical copies of infra/ (tools/charts/sync-chart-files.sh)', () => {
    for (const [source, copy] of [
      [RULES_FILE, join(ROOT, 'charts/ctp/files/prometheus_alerts_ctp_slos.yaml')],
      [DASHBOARD_FILE, join(ROOT, 'charts/ctp/files/grafana_ctp_revocation_dashboard.json')],
    ] as const) {
      expect([copy, readFileSync(copy).equals(readFileSync(source))]).toEqual([copy, true]);
    }
  });

  it('the rendered PrometheusRule equals the tested rule file apart from the runbook link base', () => {
    const rule = objects.find((o) => o.kind === 'PrometheusRule')!;
    const rendered = JSON.stringify(rule.spec);
    expect(rendered).not.toContain(TESTED_RUNBOOK_BASE);
    expect(rendered).toContain(`${base}/CTPServiceDown.md`);
    expect(parse(unbased(rendered))).toEqual(rules);
  });

  it('the rendered dashboard equals the tested one apart from the runbook link base', () => {
    const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-dashboard')) as unknown as { data: Record<string, string> };
    const text = configMap.data['grafana_ctp_revocation_dashboard.json']!;
    expect(text).toContain(`${base}/README.md`);
    expect(JSON.parse(unbased(text))).toEqual(dashboard);
  });

  it('without runbooks.baseUrl the links point at the chart home at its appVersion', () => {
    const rule = render('ctp', ['-f', 'ctp/ci/ci-values.yaml']).objects.find((o) => o.kind === 'PrometheusRule')!;
    expect(JSON.stringify(rule.spec)).toContain('https://github.com/ctp/ctp/blob/v0.1.0/docs/runbooks/CTPServiceDown.md');
  });
});

describe('promtool', () => {
  it('checks the rule file', () => {
    expect(promtool(['check', 'rules', RULES_FILE])).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('passes the rule unit tests (each alert fires and stays silent as specified)', () => {
    const tests = readdirSync(join(ROOT, 'infra/tests')).filter((f) => f.endsWith('.test.yaml')).map((f) => join('infra/tests', f));
    expect(tests.length).toBeGreaterThanOrEqual(3);
    promtool(['test', 'rules', ...tests]);
  }, 240_000);

  /** promtool parses PromQL only inside rule files: each query becomes a recording rule. */
  const checkQueries = (name: string, exprs: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), `ctp-${name}-`));
    try {
      const file = join(dir, `${name}.yaml`);
      const ruleLines = exprs.map((expr, i) => `      - record: ${name}:query_${i}\n        expr: ${JSON.stringify(expr)}`);
      writeFileSync(file, `groups:\n  - name: ${name}\n    rules:\n${ruleLines.join('\n')}\n`);
      expect(promtool(['check', 'rules', file])).toContain(`SUCCESS: ${exprs.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('parses every dashboard query', () => {
    const grafanaVariables = (expr: string) => expr.replaceAll('$__rate_interval', '5m').replaceAll('$__range', '1h').replaceAll('$namespace', '.*');
    checkQueries('dashboard', queries.map((q) => grafanaVariables(q.expr)));
  });

  it('parses every PromQL example in the runbooks', () => {
    const exprs = readdirSync(RUNBOOKS)
      .filter((f) => f.endsWith('.md'))
      .flatMap((f) => [...read(join(RUNBOOKS, f)).matchAll(/```promql\n([\s\S]*?)```/g)].map((m) => m[1]!))
      .flatMap((block) => (/\nor\n/.test(block) ? [block] : block.trim().split('\n')))
      .map((expr) => expr.trim());
    expect(exprs.length).toBeGreaterThan(20);
    checkQueries('runbooks', exprs);
  });
});
