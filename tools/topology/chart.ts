import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** What the topology takes from the rendered chart: each service's environment and the Ingress. */
export interface ChartShape {
  /** Environment variables with literal values, per service (valueFrom entries are Secrets: the topology provides those). */
  env: Record<ServiceName, Record<string, string>>;
  /** Ingress paths in order: exact or prefix, to which service. */
  routes: { path: string; exact: boolean; service: ServiceName }[];
  /** nginx.ingress.kubernetes.io/* annotations of the Ingress (body size, timeouts, buffering). */
  annotations: Record<string, string>;
  /** The in-cluster Service host:port of each service (what CTP_JWKS_URL and friends name). */
  serviceAddresses: Record<string, ServiceName>;
}

export const SERVICES = ['issuer', 'introspector', 'revocation-broadcaster', 'ledger-writer'] as const;
export type ServiceName = (typeof SERVICES)[number];

interface K8sObject {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}

const RELEASE = 'topology';
const serviceOf = (name: string): ServiceName => {
  const service = SERVICES.find((s) => name === `${RELEASE}-${s}`);
  if (!service) throw new Error(`unexpected object ${name} in the rendered chart`);
  return service;
};

/** `helm template` of charts/ctp (dependencies built in a scratch copy) with tools/topology/values.yaml. */
export function renderChart(root: string, set: Record<string, string>): ChartShape {
  const helm = execFileSync('bash', [join(root, 'tools/charts/helm.sh')], { encoding: 'utf8' }).trim();
  const scratch = mkdtempSync(join(tmpdir(), 'ctp-topology-charts-'));
  try {
    cpSync(join(root, 'charts'), scratch, { recursive: true });
    for (const chart of [...SERVICES, 'ctp']) execFileSync(helm, ['dependency', 'build', join(scratch, chart)], { stdio: 'pipe' });
    const args = ['template', RELEASE, join(scratch, 'ctp'), '-f', join(root, 'tools/topology/values.yaml')];
    for (const [key, value] of Object.entries(set)) args.push('--set-string', `${key}=${value}`);
    const text = execFileSync(helm, args, { encoding: 'utf8', maxBuffer: 32 * 1024 * 1024 });
    return shapeOf(parseAllDocuments(text).map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function shapeOf(objects: K8sObject[]): ChartShape {
  const env = {} as ChartShape['env'];
  const serviceAddresses: Record<string, ServiceName> = {};
  for (const o of objects) {
    if (o.kind === 'Deployment') {
      const containers = (o.spec.template as { spec: { containers: { env?: { name: string; value?: string }[] }[] } }).spec.containers;
      env[serviceOf(o.metadata.name)] = Object.fromEntries((containers[0]!.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
    }
    if (o.kind === 'Service') {
      const port = (o.spec.ports as { port: number }[])[0]!.port;
      serviceAddresses[`${o.metadata.name}:${port}`] = serviceOf(o.metadata.name);
    }
  }
  const ingress = objects.find((o) => o.kind === 'Ingress');
  if (!ingress) throw new Error('the chart rendered no Ingress');
  const rules = ingress.spec.rules as { http: { paths: { path: string; pathType: string; backend: { service: { name: string } } }[] } }[];
  const routes = rules[0]!.http.paths.map((p) => ({ path: p.path, exact: p.pathType === 'Exact', service: serviceOf(p.backend.service.name) }));
  return { env, routes, annotations: ingress.metadata.annotations ?? {}, serviceAddresses };
}
