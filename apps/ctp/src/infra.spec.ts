import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';

/**
 * Deployment artifacts without a cluster or a helm binary: the Helm charts (values against their
 * schemas, templates parse, every .Values reference exists), the Prometheus rules and their runbooks,
 * the Grafana dashboard, the chart's copies of both, and the Dockerfiles. promtool checks the rules,
 * their unit tests and the dashboard's queries (Debian's prometheus package; tools/charts/check-rules.sh
 * installs it). tools/charts/helm-check.sh renders the charts with a real Helm.
 */
const ROOT = resolve(__dirname, '../../..');
const CHARTS = join(ROOT, 'charts');
const SERVICE_CHARTS = ['issuer', 'introspector', 'revocation-broadcaster', 'ledger-writer'];
const ALL_CHARTS = [...SERVICE_CHARTS, 'ctp'];
const RULES_FILE = join(ROOT, 'infra/prometheus_alerts_ctp_slos.yaml');
const DASHBOARD_FILE = join(ROOT, 'infra/grafana_ctp_revocation_dashboard.json');
const RUNBOOKS = join(ROOT, 'docs/runbooks');
const RUNBOOK_URL = 'https://github.com/ctp/ctp/blob/main/docs/runbooks/';

interface HttpProbe {
  httpGet: { path: string };
}
interface DeploymentShape {
  spec: {
    template: {
      spec: {
        automountServiceAccountToken: boolean;
        containers: { livenessProbe: HttpProbe; readinessProbe: HttpProbe; startupProbe: HttpProbe; volumeMounts: { name: string; mountPath: string }[] }[];
        volumes: { name: string; emptyDir?: object }[];
      };
    };
  };
}
type Panel = { id: number; type: string; title: string; datasource?: { uid: string }; targets?: { expr: string; datasource?: { uid: string } }[]; panels?: Panel[]; gridPos: { x: number; w: number } };
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const read = (path: string) => readFileSync(path, 'utf8');
const readYaml = (path: string) => parse(read(path)) as JsonObject;
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Helm's value merge: maps merge key by key, anything else is replaced, null deletes. */
function mergeValues(base: Json, override: Json | undefined): Json {
  if (override === undefined) return structuredClone(base);
  if (!isObject(base) || !isObject(override)) return structuredClone(override);
  const out = structuredClone(base);
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete out[key];
    else out[key] = key in out ? mergeValues(out[key]!, value) : structuredClone(value);
  }
  return out;
}

/** The values a subchart sees under the umbrella chart: its defaults, the umbrella's section, the umbrella's globals. */
function subchartValues(chart: string, umbrella: JsonObject): JsonObject {
  const own = readYaml(join(CHARTS, chart, 'values.yaml'));
  const merged = mergeValues(own, (umbrella[chart] ?? {}) as Json) as JsonObject;
  merged.global = mergeValues(own.global ?? {}, umbrella.global) as JsonObject;
  return merged;
}

/** Umbrella values with every subchart's defaults filled in, as templates see them. */
function umbrellaValues(): JsonObject {
  const umbrella = readYaml(join(CHARTS, 'ctp/values.yaml'));
  for (const chart of SERVICE_CHARTS) umbrella[chart] = subchartValues(chart, umbrella);
  return umbrella;
}

const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strict: true, strictTypes: true });
const schemas = new Map<string, ValidateFunction>();
function validator(chart: string): ValidateFunction {
  let validate = schemas.get(chart);
  if (!validate) {
    validate = ajv.compile(JSON.parse(read(join(CHARTS, chart, 'values.schema.json'))) as object);
    schemas.set(chart, validate);
  }
  return validate;
}
const schemaErrors = (chart: string, values: unknown) => {
  const validate = validator(chart);
  return validate(values) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
};

const templatesOf = (chart: string) =>
  readdirSync(join(CHARTS, chart, 'templates')).filter((f) => f.endsWith('.yaml') || f.endsWith('.tpl'));

/**
 * Replaces Go-template actions so a template can be parsed as YAML: comment actions go; a line that
 * is only actions becomes a placeholder entry at its `nindent`/`indent` column (list item or map
 * entry, as its neighbours are) or disappears (if/range/with/end/define/variable lines); an action
 * inside a line becomes a placeholder scalar.
 */
function substituteTemplate(text: string): string {
  const withoutComments = text.replace(/\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g, '');
  const lines = withoutComments.split('\n');
  const out: string[] = [];
  const onlyActions = /^\s*(\{\{[\s\S]*?\}\}\s*)+$/;
  const indentOf = (line: string) => line.length - line.trimStart().length;
  const isContent = (line: string) => line.trim() !== '' && !line.trimStart().startsWith('#') && !onlyActions.test(line);
  let placeholders = 0;
  lines.forEach((line, i) => {
    if (!onlyActions.test(line)) {
      out.push(line.replace(/\{\{[\s\S]*?\}\}/g, 'PLACEHOLDER'));
      return;
    }
    const indent = /\bn?indent\s+(\d+)/.exec(line);
    if (!indent) return;
    const column = Number(indent[1]);
    const previous = [...out].reverse().find((l) => isContent(l) && indentOf(l) <= column);
    const next = lines.slice(i + 1).find((l) => isContent(l) && indentOf(l) <= column);
    const listItem = [previous, next].some((l) => l !== undefined && indentOf(l) === column && l.trimStart().startsWith('- '));
    placeholders += 1;
    out.push(`${' '.repeat(column)}${listItem ? '- ' : ''}placeholder_${placeholders}: PLACEHOLDER`);
  });
  return out.join('\n');
}

function valuePathExists(values: Json, path: string[]): boolean {
  let node: Json | undefined = values;
  for (const key of path) {
    if (!isObject(node) || !(key in node)) return false;
    node = node[key];
  }
  return true;
}

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

describe('Helm charts', () => {
  it.each(ALL_CHARTS)('%s: values.yaml validates against values.schema.json (draft-07)', (chart) => {
    const schema = JSON.parse(read(join(CHARTS, chart, 'values.schema.json'))) as JsonObject;
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schemaErrors(chart, readYaml(join(CHARTS, chart, 'values.yaml')))).toEqual([]);
  });

  it('umbrella values, and each service chart as the umbrella configures it, pass the schemas Helm applies', () => {
    const ci = readYaml(join(CHARTS, 'ctp/ci/ci-values.yaml'));
    const umbrella = mergeValues(readYaml(join(CHARTS, 'ctp/values.yaml')), ci) as JsonObject;
    expect(schemaErrors('ctp', umbrella)).toEqual([]);
    for (const chart of SERVICE_CHARTS) expect([chart, schemaErrors(chart, subchartValues(chart, umbrella))]).toEqual([chart, []]);
  });

  it('schemas refuse values the services would reject or that break the deployment', () => {
    const invalid = (chart: string, override: JsonObject) =>
      schemaErrors(chart, mergeValues(readYaml(join(CHARTS, chart, 'values.yaml')), override));
    expect(invalid('ledger-writer', { replicaCount: 2 })).not.toEqual([]);
    expect(invalid('ledger-writer', { autoscaling: { enabled: true } })).not.toEqual([]);
    expect(invalid('ledger-writer', { config: { CTP_DATABASE_SCHEMA: 'Bad-Schema' } })).not.toEqual([]);
    expect(invalid('issuer', { config: { CTP_TOKEN_TTL_SECONDS: 301 } })).not.toEqual([]);
    expect(invalid('issuer', { kms: { enabled: true } })).not.toEqual([]);
    expect(invalid('introspector', { config: { CTP_NOT_A_SETTING: 1 } })).not.toEqual([]);
    expect(invalid('introspector', { securityContext: { runAsNonRoot: false } })).not.toEqual([]);
    expect(invalid('revocation-broadcaster', { global: { ctp: { issuer: 'ctp.example.com' } } })).not.toEqual([]);
    expect(invalid('ctp', { ingress: { tls: { enabled: true, secretName: '' } } })).not.toEqual([]);
    expect(invalid('ctp', { ingress: { hosts: ['typo'] } })).not.toEqual([]);
  });

  it.each(ALL_CHARTS)('%s: every value in values.yaml is documented by a comment', (chart) => {
    const undocumented: string[] = [];
    const stack: { indent: number; documentsChildren: boolean }[] = [];
    const lines = read(join(CHARTS, chart, 'values.yaml')).split('\n');
    lines.forEach((line, i) => {
      const key = /^(\s*)([A-Za-z0-9_.\-/]+):/.exec(line);
      if (!key || line.trimStart().startsWith('#')) return;
      const indent = key[1]!.length;
      while (stack.length > 0 && stack[stack.length - 1]!.indent >= indent) stack.pop();
      const comments: string[] = [];
      for (let j = i - 1; j >= 0 && lines[j]!.trimStart().startsWith('#'); j--) comments.unshift(lines[j]!.trim());
      const inherited = stack.some((s) => s.documentsChildren);
      if (comments.length === 0 && !inherited) undocumented.push(`line ${i + 1}: ${line.trim()}`);
      stack.push({ indent, documentsChildren: comments.some((c) => c.startsWith('# --')) });
    });
    expect(undocumented).toEqual([]);
  });

  it.each(ALL_CHARTS)('%s: every template parses as YAML once template actions are substituted', (chart) => {
    for (const file of templatesOf(chart).filter((f) => f.endsWith('.yaml'))) {
      const docs = parseAllDocuments(substituteTemplate(read(join(CHARTS, chart, 'templates', file))), { uniqueKeys: false });
      for (const doc of docs) {
        expect([file, doc.errors.map((e) => e.message)]).toEqual([file, []]);
        const object = doc.toJS() as JsonObject | null;
        if (object === null) continue;
        expect([file, typeof object.apiVersion, typeof object.kind, isObject(object.metadata)]).toEqual([file, 'string', 'string', true]);
      }
    }
  });

  it.each(ALL_CHARTS)('%s: every .Values reference and every included template exists', (chart) => {
    const values = chart === 'ctp' ? umbrellaValues() : readYaml(join(CHARTS, chart, 'values.yaml'));
    const sources = templatesOf(chart).map((f) => read(join(CHARTS, chart, 'templates', f)));
    const defined = new Set<string>();
    for (const c of chart === 'ctp' ? ALL_CHARTS : [chart]) {
      for (const f of templatesOf(c)) for (const m of read(join(CHARTS, c, 'templates', f)).matchAll(/define\s+"([^"]+)"/g)) defined.add(m[1]!);
    }
    const missing: string[] = [];
    for (const text of sources) {
      for (const m of text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
        if (!valuePathExists(values, m[1]!.slice(1).split('.'))) missing.push(`.Values${m[1]}`);
      }
      for (const m of text.matchAll(/index\s+\$?\.Values\s+"([^"]+)"/g)) if (!valuePathExists(values, [m[1]!])) missing.push(`index .Values "${m[1]}"`);
      for (const m of text.matchAll(/include\s+"([^"]+)"/g)) if (!defined.has(m[1]!)) missing.push(`include "${m[1]}"`);
    }
    expect(missing).toEqual([]);
  });

  it.each(SERVICE_CHARTS)('%s: the Deployment probes, hardens and mounts as required', (chart) => {
    const docs = parseAllDocuments(substituteTemplate(read(join(CHARTS, chart, 'templates/deployment.yaml'))), { uniqueKeys: false });
    const deployment = docs.map((d) => d.toJS() as JsonObject).find((d) => d?.kind === 'Deployment') as unknown as DeploymentShape;
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0]!;
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.startupProbe.httpGet.path).toBe('/healthz');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(container.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(pod.volumes.find((v) => v.name === 'tmp')).toHaveProperty('emptyDir');
    const values = readYaml(join(CHARTS, chart, 'values.yaml')) as { podSecurityContext: unknown; securityContext: unknown };
    expect(values.podSecurityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    expect(values.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 10001,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const text = read(join(CHARTS, chart, 'templates/_helpers.tpl'));
    expect(text).toMatch(/name: CTP_NATS_URL\n\s+valueFrom:\n\s+secretKeyRef:/);
    if (chart !== 'ledger-writer') expect(text).toMatch(/name: CTP_REDIS_URL\n\s+valueFrom:\n\s+secretKeyRef:/);
    if (chart === 'ledger-writer') expect(text).toMatch(/name: CTP_DATABASE_URL\n\s+valueFrom:\n\s+secretKeyRef:/);
    if (chart === 'introspector') expect(text).toContain('name: CTP_JWKS_URL');
  });

  it('sets exactly the CTP_* variables README.md documents for each service', () => {
    const rows: { name: string; users: string }[] = [];
    for (const m of read(join(ROOT, 'README.md')).matchAll(/^\| `((?:CTP_|LOG_)[A-Z_]+)` \| ([^|]+) \|/gm)) {
      const users = m[2]!.trim() === 'same' ? rows[rows.length - 1]!.users : m[2]!.trim();
      rows.push({ name: m[1]!, users });
    }
    const documented = new Set(rows.map((r) => r.name));
    for (const chart of SERVICE_CHARTS) {
      const config = Object.keys((readYaml(join(CHARTS, chart, 'values.yaml')) as { config: JsonObject }).config);
      const helpers = read(join(CHARTS, chart, 'templates/_helpers.tpl'));
      const set = new Set([...config, ...[...helpers.matchAll(/- name: ((?:CTP_|LOG_)[A-Z_]+)/g)].map((m) => m[1]!)]);
      expect([chart, [...set].filter((name) => !documented.has(name))]).toEqual([chart, []]);
      const required = rows.filter((r) => r.users.split(/,\s*/).includes(chart)).map((r) => r.name);
      expect([chart, required.filter((name) => !set.has(name))]).toEqual([chart, []]);
    }
  });

  it('the service monitors carry the release label and the job names the alert rules select', () => {
    for (const chart of SERVICE_CHARTS) {
      const text = read(join(CHARTS, chart, 'templates/servicemonitor.yaml'));
      expect(text).toContain('apiVersion: monitoring.coreos.com/v1');
      expect(text).toContain('release: {{ .Values.global.ctp.monitoring.release | quote }}');
      expect(text).toContain(`replacement: ctp-${chart}`);
      expect(read(RULES_FILE)).toContain(chart);
    }
  });

  it('the umbrella chart depends on the four service charts and routes the guide paths to them', () => {
    const chart = readYaml(join(CHARTS, 'ctp/Chart.yaml')) as { dependencies: { name: string; repository: string }[] };
    expect(chart.dependencies.map((d) => [d.name, d.repository])).toEqual(
      SERVICE_CHARTS.map((c) => [c, `file://../${c}`]),
    );
    const ingress = read(join(CHARTS, 'ctp/templates/ingress.yaml'));
    const route = (path: string, type: string, service: string) =>
      expect(ingress).toContain(`(dict "path" "${path}" "type" "${type}" "service" $${service})`);
    route('/issue', 'Exact', 'issuer');
    route('/.well-known/jwks.json', 'Exact', 'issuer');
    route('/funnel-events', 'Exact', 'issuer');
    route('/introspect', 'Exact', 'introspector');
    route('/revoke', 'Exact', 'broadcaster');
    route('/revocations', 'Prefix', 'broadcaster');
    expect(read(join(CHARTS, 'ctp/templates/prometheusrule.yaml'))).toContain('.Files.Get "files/prometheus_alerts_ctp_slos.yaml"');
    const configMap = read(join(CHARTS, 'ctp/templates/dashboard-configmap.yaml'));
    expect(configMap).toContain('.Files.Get "files/grafana_ctp_revocation_dashboard.json"');
    expect((readYaml(join(CHARTS, 'ctp/values.yaml')) as { dashboard: { labels: unknown } }).dashboard.labels).toEqual({ grafana_dashboard: '1' });
  });

  it('the chart ships byte-identical copies of the rule file and the dashboard (tools/charts/sync-chart-files.sh)', () => {
    for (const [source, copy] of [
      [RULES_FILE, join(CHARTS, 'ctp/files/prometheus_alerts_ctp_slos.yaml')],
      [DASHBOARD_FILE, join(CHARTS, 'ctp/files/grafana_ctp_revocation_dashboard.json')],
    ] as const) {
      expect([copy, readFileSync(copy).equals(readFileSync(source))]).toEqual([copy, true]);
    }
  });
});

describe('Prometheus rules and runbooks', () => {
  it('every alert has a severity, summary, description and a runbook that exists', () => {
    for (const rule of alertRules) {
      expect([rule.alert, rule.labels.severity]).toEqual([rule.alert, expect.stringMatching(/^(critical|warning)$/)]);
      if (rule.labels.sloth_severity) expect([rule.alert, rule.labels.severity]).toEqual([rule.alert, rule.labels.sloth_severity === 'page' ? 'critical' : 'warning']);
      expect(rule.annotations.summary).toBeTruthy();
      expect(rule.annotations.description).toBeTruthy();
      expect(rule.annotations.runbook_url).toBe(`${RUNBOOK_URL}${rule.alert}.md`);
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
  });
});

describe('Dockerfile', () => {
  const text = read(join(ROOT, 'Dockerfile'));
  const runtime = text.slice(text.lastIndexOf('\nFROM '));

  it('builds on Node 24 and runs the bundle as a non-root user, without sources', () => {
    const froms = [...text.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const image of froms) expect(image).toBe('node:24-bookworm-slim');
    const user = [...runtime.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]!).pop();
    expect(user).toMatch(/^10001(:10001)?$/);
    expect(text).toMatch(/npm ci\b/);
    expect(text).toMatch(/npm ci --omit=dev/);
    expect(text).toContain('node tools/build.mjs "${APP}"');
    expect(runtime).not.toMatch(/^COPY (apps|libs)\//m);
    expect(runtime).toContain('COPY --from=build /src/dist/apps/${APP} ./dist/app');
    expect(runtime).toContain('COPY --from=build /src/dist/apps/migrations ./dist/migrations');
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(runtime)![1]!) as string[];
    expect(cmd.slice(0, 1).concat(cmd.slice(2, 3))).toEqual(['node', 'dist/app/main.js']);
  });

  it('documents a build command for every app, with the port its chart uses', () => {
    // The demo partner app runs from source (npm run demo) and has no image (tools/build.mjs skips it too).
    const apps = readdirSync(join(ROOT, 'apps')).filter((a) => existsSync(join(ROOT, 'apps', a, 'src/main.ts')) && a !== 'demo-partner');
    for (const app of apps) expect(text).toMatch(new RegExp(`--build-arg APP=${app} +--build-arg PORT=\\d+`));
  });
});

describe('promtool', () => {
  const promtool = (args: string[], cwd = ROOT) => {
    const result = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 240_000 });
    if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('promtool is not installed: `apt-get install -y prometheus` provides it (tools/charts/check-rules.sh installs it and runs the same checks)');
    }
    if (result.status !== 0) throw new Error(`promtool ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
    return result.stdout;
  };

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
