import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import { ALL_CHARTS, CHARTS, isObject, read, readYaml, render, ROOT, runHelm, SERVICE_CHARTS, validateManifests, type Json, type JsonObject, type K8sObject } from './repo';

/**
 * The Helm charts, rendered by a real Helm (tools/charts/helm.sh) from a copy with the library chart
 * built in: values against their schemas, every render of several value sets (defaults, CI, dev mode,
 * every option on) against the Kubernetes and prometheus-operator schemas with unknown fields refused,
 * and what the templates promise (egress derived from settings, TLS probes, drains at one replica,
 * helm test hooks, NOTES warnings).
 */
const ISSUER = ['--set', 'global.ctp.issuer=https://ctp.example.com'];
const CI = ['-f', 'ctp/ci/ci-values.yaml'];
const ALL_OPTIONS = [...CI, '-f', 'ctp/ci/all-options-values.yaml'];

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

const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strict: true, strictTypes: true });
const schemas = new Map<string, ValidateFunction>();
function schemaErrors(chart: string, values: unknown): string[] {
  let validate = schemas.get(chart);
  if (!validate) {
    validate = ajv.compile(JSON.parse(read(join(CHARTS, chart, 'values.schema.json'))) as object);
    schemas.set(chart, validate);
  }
  return validate(values) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
}

const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const named = (objects: K8sObject[], kind: string, name: string) => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in the render`);
  return found as K8sObject & { spec: Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
};
const notes = (chart: string, args: string[]) => {
  const result = runHelm(['install', 'ci', chart, '--dry-run=client', '--namespace', 'ctp', ...args]);
  if (result.status !== 0) throw new Error(result.stderr);
  return result.stdout.slice(result.stdout.indexOf('NOTES:'));
};

describe('chart values', () => {
  it.each(ALL_CHARTS)('%s: values.yaml validates against values.schema.json (draft-07)', (chart) => {
    const schema = JSON.parse(read(join(CHARTS, chart, 'values.schema.json'))) as JsonObject;
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schemaErrors(chart, readYaml(join(CHARTS, chart, 'values.yaml')))).toEqual([]);
  });

  it('schemas refuse values the services would reject or that break the deployment', () => {
    const invalid = (chart: string, override: JsonObject) => schemaErrors(chart, mergeValues(readYaml(join(CHARTS, chart, 'values.yaml')), override));
    expect(invalid('ledger-writer', { replicaCount: 0 })).not.toEqual([]);
    expect(invalid('ledger-writer', { replicaCount: 3 })).toEqual([]);
    expect(invalid('ledger-writer', { config: { CTP_LEDGER_LEASE_MS: 100 } })).not.toEqual([]);
    expect(invalid('ledger-writer', { autoscaling: { enabled: true } })).not.toEqual([]);
    expect(invalid('ledger-writer', { config: { CTP_DATABASE_SCHEMA: 'Bad-Schema' } })).not.toEqual([]);
    expect(invalid('issuer', { config: { CTP_TOKEN_TTL_SECONDS: 301 } })).not.toEqual([]);
    expect(invalid('issuer', { image: { digest: 'latest' } })).not.toEqual([]);
    expect(invalid('issuer', { probes: { scheme: 'TCP' } })).not.toEqual([]);
    expect(invalid('introspector', { config: { CTP_NOT_A_SETTING: 1 } })).not.toEqual([]);
    expect(invalid('introspector', { securityContext: { runAsNonRoot: false } })).not.toEqual([]);
    expect(invalid('introspector', { global: { ctp: { tracing: { otlpEndpoint: 'otel:4318', protocol: 'grpc' } } } })).not.toEqual([]);
    expect(invalid('revocation-broadcaster', { global: { ctp: { issuer: 'ctp.example.com' } } })).not.toEqual([]);
    expect(invalid('revocation-broadcaster', { serviceAccountName: 'old-key' })).not.toEqual([]);
    expect(invalid('ctp', { ingress: { tls: { enabled: true, secretName: '' } } })).not.toEqual([]);
    expect(invalid('ctp', { runbooks: { baseUrl: 'wiki/runbooks' } })).not.toEqual([]);
  });

  it('chart READMEs are generated from the values comments and match them (tools/charts/values-docs.mjs)', () => {
    const result = spawnSync(process.execPath, [join(ROOT, 'tools/charts/values-docs.mjs'), '--check'], { encoding: 'utf8' });
    expect([result.status, result.stderr]).toEqual([0, '']);
    for (const chart of ALL_CHARTS) {
      const key = chart === 'ctp' ? 'runbooks.baseUrl' : 'networkPolicy.extraEgress';
      expect(read(join(CHARTS, chart, 'README.md'))).toContain(`| \`${key}\` |`);
    }
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
});

describe('rendered manifests', () => {
  const valueSets: [string, string, string[]][] = [
    ...SERVICE_CHARTS.map((chart): [string, string, string[]] => [`${chart} defaults`, chart, ISSUER]),
    ['umbrella (CI values)', 'ctp', CI],
    ['umbrella in dev mode', 'ctp', [...CI, '--set', 'global.ctp.devMode=true']],
    ['umbrella with every option on', 'ctp', ALL_OPTIONS],
  ];

  it.each(valueSets)('%s: every object is valid against the Kubernetes / prometheus-operator schemas, no unknown field', (_name, chart, args) => {
    const { text, objects } = render(chart, args);
    expect(objects.length).toBeGreaterThan(5);
    const result = validateManifests(text);
    expect([result.ok, result.output]).toEqual([true, expect.stringContaining('valid')]);
  });

  it('the validator refuses what the API server would silently drop or reject', () => {
    const { text } = render('issuer', ISSUER);
    const typo = validateManifests(text.replace('unhealthyPodEvictionPolicy:', 'unhealthyPodEvictionPolicyy:'));
    expect(typo.ok).toBe(false);
    expect(typo.output).toContain('unknown field spec.unhealthyPodEvictionPolicyy');
    const wrongType = validateManifests(text.replace(/containerPort: 8001/, 'containerPort: "http"'));
    expect(wrongType.output).toMatch(/containerPort must be integer/);
  });

  it('the umbrella renders each kind as many times as the release has services', () => {
    const counts = (objects: K8sObject[]) => Object.fromEntries([...new Set(objects.map((o) => o.kind))].map((k) => [k, byKind(objects, k).length]));
    expect(counts(render('ctp', CI).objects)).toEqual({
      Deployment: 4, Service: 4, ServiceMonitor: 4, NetworkPolicy: 4, PodDisruptionBudget: 4, HorizontalPodAutoscaler: 3,
      Ingress: 1, PrometheusRule: 1, ConfigMap: 1, Pod: 4,
    });
    expect(counts(render('ctp', ALL_OPTIONS).objects)).toMatchObject({ ServiceAccount: 4, Pod: 5 });
  });

  it('Helm refuses invalid values and missing settings', () => {
    const refused = (...args: string[]) => {
      const result = runHelm(['template', 'ci', 'ctp', ...CI, ...args]);
      expect([args.join(' '), result.status]).not.toEqual([args.join(' '), 0]);
      return result.stderr;
    };
    expect(refused('--set', 'ledger-writer.replicaCount=0')).toContain('/replicaCount');
    expect(refused('--set', 'ledger-writer.config.CTP_LEDGER_LEASE_MS=0', '--set', 'ledger-writer.replicaCount=1')).toContain('needs strategy.type Recreate');
    expect(refused('--set', 'ledger-writer.config.CTP_LEDGER_LEASE_MS=0', '--set', 'ledger-writer.strategy.type=Recreate', '--set', 'ledger-writer.strategy.rollingUpdate=null')).toContain('replicaCount > 1 needs config.CTP_LEDGER_LEASE_MS');
    expect(refused('--set-string', 'ledger-writer.checkpointKeys.existingSecret=')).toContain('every writer must sign checkpoints with the same key');
    expect(refused('--set', 'issuer.config.CTP_TOKEN_TTL_SECONDS=301')).toContain('CTP_TOKEN_TTL_SECONDS');
    expect(refused('--set', 'global.ctp.issuer=')).toContain('global.ctp.issuer');
    expect(refused('--set', 'global.ctp.secrets.partners.name=')).toContain('partners.name is required');
    expect(refused('--set-string', 'issuer.signingKeys.existingSecret=')).toContain('signingKeys.existingSecret is required');
    expect(refused('--set', 'ledger-writer.config.CTP_TSA_URL=https://tsa.example.com')).toContain('tsa.rootsConfigMap');
    expect(refused('--set', 'ledger-writer.config.CTP_LEDGER_RETENTION_INTERVAL_MS=1000')).toContain('segments.existingClaim');
    expect(runHelm(['lint', '--strict', 'ctp', ...ALL_OPTIONS]).status).toBe(0);
    for (const chart of SERVICE_CHARTS) expect([chart, runHelm(['lint', '--strict', chart, ...ISSUER]).status]).toEqual([chart, 0]);
  });
});

describe('what the templates promise', () => {
  const all = render('ctp', ALL_OPTIONS).objects;
  const defaults = render('ctp', CI).objects;

  it('NetworkPolicy egress follows the configured features: TSA, OTLP collector, KMS, an outside JWKS, extraEgress', () => {
    const egress = (objects: K8sObject[], service: string) => named(objects, 'NetworkPolicy', `ci-${service}`).spec.egress as { ports?: { port: number }[]; to?: { ipBlock?: { cidr: string } }[] }[];
    /** Does some rule admit TCP to this address and port (NetworkPolicy semantics: a rule without `to` admits any peer)? */
    const admits = (rules: ReturnType<typeof egress>, port: number, ip: string) =>
      rules.some((r) => (r.ports ?? []).some((p) => p.port === port) && (r.to === undefined || r.to.some((t) => t.ipBlock && cidrContains(t.ipBlock.cidr, ip))));
    expect(admits(egress(defaults, 'ledger-writer'), 3180, '203.0.113.9')).toBe(false);
    expect(admits(egress(all, 'ledger-writer'), 3180, '203.0.113.9')).toBe(true);
    for (const service of ['issuer', 'introspector', 'revocation-broadcaster', 'ledger-writer']) {
      expect([service, admits(egress(defaults, service), 4318, '10.9.9.9')]).toEqual([service, false]);
      expect([service, admits(egress(all, service), 4318, '10.9.9.9')]).toEqual([service, true]);
    }
    expect(admits(egress(defaults, 'issuer'), 443, '142.250.0.1')).toBe(false);
    expect(admits(egress(all, 'issuer'), 443, '142.250.0.1')).toBe(true);
    expect(admits(egress(all, 'introspector'), 8443, '10.1.2.3')).toBe(true);
    expect(admits(egress(all, 'introspector'), 8443, '203.0.113.9')).toBe(false);
    expect(admits(egress(all, 'revocation-broadcaster'), 8443, '10.20.30.40')).toBe(true);
    const kmsEndpoint = render('issuer', [...ISSUER, '--set', 'kms.enabled=true', '--set', 'kms.keyName=projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1', '--set', 'kms.endpoint=10.0.0.7:9011']).objects;
    expect(admits(egress(kmsEndpoint, 'issuer'), 9011, '10.0.0.7')).toBe(true);
    expect(admits(egress(kmsEndpoint, 'issuer'), 443, '142.250.0.1')).toBe(false);
  });

  it('in-pod TLS works through the chart: certificate mounted, CTP_TLS_* set, probes, ServiceMonitor and helm test on HTTPS', () => {
    const deployment = named(all, 'Deployment', 'ci-issuer');
    const container = deployment.spec.template.spec.containers[0];
    expect(container.readinessProbe.httpGet).toMatchObject({ path: '/readyz', scheme: 'HTTPS' });
    expect(container.livenessProbe.httpGet.scheme).toBe('HTTPS');
    expect(container.env).toEqual(expect.arrayContaining([{ name: 'CTP_TLS_CERT_FILE', value: '/etc/ctp/tls/tls.crt' }, { name: 'CTP_TLS_KEY_FILE', value: '/etc/ctp/tls/tls.key' }]));
    expect(container.volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/ctp/tls', readOnly: true });
    expect(named(all, 'ServiceMonitor', 'ci-issuer').spec.endpoints[0]).toMatchObject({ scheme: 'https', honorLabels: true, tlsConfig: { serverName: 'ctp-issuer' } });
    expect(named(all, 'ServiceMonitor', 'ci-issuer').metadata.namespace).toBe('monitoring');
    expect(named(all, 'Pod', 'ci-issuer-test-readyz').spec.containers[0].env).toContainEqual({ name: 'TARGET_URL', value: 'https://ci-issuer:8001' });
    const plain = named(defaults, 'Deployment', 'ci-issuer').spec.template.spec.containers[0];
    expect(plain.readinessProbe.httpGet.scheme).toBe('HTTP');
    expect(plain.env.map((e: { name: string }) => e.name)).not.toContain('CTP_TLS_CERT_FILE');
  });

  it('extension points reach the pod: extraEnv/envFrom, extra volumes and mounts, init containers, sidecars, ServiceAccount, digest', () => {
    const pod = named(all, 'Deployment', 'ci-issuer').spec.template.spec;
    const container = pod.containers[0];
    expect(container.image).toBe('ghcr.io/ctp/ctp-issuer@sha256:0000000000000000000000000000000000000000000000000000000000000001');
    expect(container.env.at(-1)).toEqual({ name: 'NODE_OPTIONS', value: '--max-old-space-size=384' });
    expect(container.env).toContainEqual({ name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://otel-collector.observability:4318' });
    expect(container.envFrom).toEqual([{ secretRef: { name: 'ctp-otel-headers' } }]);
    expect(container.volumeMounts).toContainEqual({ name: 'ca', mountPath: '/etc/ctp/ca', readOnly: true });
    expect(pod.volumes).toContainEqual({ name: 'ca', configMap: { name: 'ctp-ca' } });
    expect(pod.initContainers.map((c: { name: string }) => c.name)).toEqual(['copy-signing-keys', 'wait']);
    expect(pod.containers.map((c: { name: string }) => c.name)).toEqual(['issuer', 'log-shipper']);
    expect(pod.serviceAccountName).toBe('ci-issuer');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(named(all, 'ServiceAccount', 'ci-issuer').metadata.annotations).toEqual({ 'iam.gke.io/gcp-service-account': 'ctp-issuer@project.iam.gserviceaccount.com' });
    expect(named(all, 'Deployment', 'ci-ledger-writer').spec.template.spec.serviceAccountName).toBe('ctp-ledger');
    expect(named(defaults, 'Deployment', 'ci-issuer').spec.template.spec.serviceAccountName).toBeUndefined();
  });

  it('pods spread over nodes and zones, every Deployment is hardened, and backend URLs come from Secrets', () => {
    for (const deployment of byKind(defaults, 'Deployment') as (K8sObject & { spec: Record<string, any> })[]) { // eslint-disable-line @typescript-eslint/no-explicit-any
      const pod = deployment.spec.template.spec;
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.containers[0].securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expect(pod.volumes).toContainEqual({ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } });
      // Backend URLs may carry credentials: they come from Secrets, never from values.
      const env = pod.containers[0].env as { name: string; value?: string; valueFrom?: { secretKeyRef?: object } }[];
      const fromSecret = (name: string) => expect([name, env.find((e) => e.name === name)?.valueFrom?.secretKeyRef]).toEqual([name, expect.any(Object)]);
      fromSecret('CTP_NATS_URL');
      if (deployment.metadata.name === 'ci-ledger-writer') fromSecret('CTP_DATABASE_URL');
      else fromSecret('CTP_REDIS_URL');
      if (deployment.metadata.name === 'ci-introspector') expect(env).toContainEqual({ name: 'CTP_JWKS_URL', value: 'http://ci-issuer:8001/.well-known/jwks.json' });
      if (deployment.metadata.name === 'ci-ledger-writer') continue;
      expect(pod.topologySpreadConstraints.map((c: { topologyKey: string }) => c.topologyKey)).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    }
  });

  it('a PodDisruptionBudget never blocks a drain at one replica, and lets unhealthy pods go', () => {
    expect(named(defaults, 'PodDisruptionBudget', 'ci-issuer').spec).toMatchObject({ minAvailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    expect(named(defaults, 'PodDisruptionBudget', 'ci-ledger-writer').spec).toMatchObject({ maxUnavailable: 1 });
    const single = render('issuer', [...ISSUER, '--set', 'autoscaling.enabled=false', '--set', 'replicaCount=1', '--set-string', 'signingKeys.existingSecret=k']).objects;
    expect(named(single, 'PodDisruptionBudget', 'ci-issuer').spec).toEqual(expect.objectContaining({ maxUnavailable: 1 }));
    expect(named(single, 'PodDisruptionBudget', 'ci-issuer').spec.minAvailable).toBeUndefined();
    const hpaOfOne = render('introspector', [...ISSUER, '--set', 'autoscaling.minReplicas=1']).objects;
    expect(named(hpaOfOne, 'PodDisruptionBudget', 'ci-introspector').spec.maxUnavailable).toBe(1);
  });

  it('helm test hooks call /readyz of every service, and the token flow only with a credential or in dev mode', () => {
    const tests = byKind(defaults, 'Pod');
    expect(tests.map((p) => p.metadata.name).sort()).toEqual(['ci-introspector-test-readyz', 'ci-issuer-test-readyz', 'ci-ledger-writer-test-readyz', 'ci-revocation-broadcaster-test-readyz']);
    for (const pod of tests) {
      expect(pod.metadata.annotations).toMatchObject({ 'helm.sh/hook': 'test' });
      // Admitted by the NetworkPolicies, never selected by a Service.
      expect(pod.metadata.labels).toMatchObject({ 'app.kubernetes.io/part-of': 'ctp', 'app.kubernetes.io/instance': 'ci', 'app.kubernetes.io/component': 'test' });
      expect(pod.metadata.labels).not.toHaveProperty('app.kubernetes.io/name');
    }
    const flow = named(all, 'Pod', 'ci-ctp-test-token-flow');
    expect(flow.spec.containers[0].args[0]).toBe(read(join(CHARTS, 'ctp/files/helm-test-token-flow.js')));
    expect(flow.spec.containers[0].env).toContainEqual({ name: 'API_KEY', valueFrom: { secretKeyRef: { name: 'ctp-helm-test-partner', key: 'api-key' } } });
    expect(byKind(render('ctp', [...CI, '--set', 'global.ctp.devMode=true']).objects, 'Pod').map((p) => p.metadata.name)).toContain('ci-ctp-test-token-flow');
  });

  it('NOTES warn in dev mode and about development-only settings, and stay quiet otherwise', () => {
    expect(notes('ctp', CI)).not.toMatch(/WARNING/);
    expect(notes('ctp', [...CI, '--set', 'global.ctp.devMode=true'])).toMatch(/WARNING: global\.ctp\.devMode is true/);
    expect(notes('issuer', [...ISSUER, '--set', 'global.ctp.devMode=true'])).toMatch(/WARNING: global\.ctp\.devMode is true/);
    expect(notes('ledger-writer', ISSUER)).toMatch(/WARNING: no segments\.existingClaim/);
    expect(notes('ledger-writer', [...ISSUER, '--set', 'replicaCount=1', '--set-string', 'checkpointKeys.existingSecret='])).toMatch(/WARNING: no checkpointKeys\.existingSecret/);
    expect(notes('issuer', [...ISSUER, '--set-string', 'signingKeys.existingSecret=', '--set', 'autoscaling.enabled=false', '--set', 'replicaCount=1'])).toMatch(/WARNING: no signingKeys/);
  });

  it('the umbrella routes the guide paths to the services', () => {
    const ingress = named(defaults, 'Ingress', 'ci-ctp');
    const paths = (ingress.spec.rules[0].http.paths as { path: string; pathType: string; backend: { service: { name: string } } }[]).map((p) => [p.path, p.pathType, p.backend.service.name]);
    expect(paths).toEqual([
      ['/issue', 'Exact', 'ci-issuer'],
      ['/.well-known/jwks.json', 'Exact', 'ci-issuer'],
      ['/funnel-events', 'Exact', 'ci-issuer'],
      ['/introspect', 'Exact', 'ci-introspector'],
      ['/revoke', 'Exact', 'ci-revocation-broadcaster'],
      ['/revocations', 'Prefix', 'ci-revocation-broadcaster'],
    ]);
    for (const chart of SERVICE_CHARTS) {
      const monitor = named(defaults, 'ServiceMonitor', `ci-${chart}`);
      expect(monitor.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
      expect(monitor.spec.endpoints[0].relabelings).toContainEqual({ action: 'replace', targetLabel: 'job', replacement: `ctp-${chart}` });
    }
  });
});

/** IPv4 CIDR membership. */
function cidrContains(cidr: string, ip: string): boolean {
  const [base, bits] = cidr.split('/') as [string, string];
  const toInt = (a: string) => a.split('.').reduce((n, part) => (n << 8) + Number(part), 0) >>> 0;
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return (toInt(base) & mask) === (toInt(ip) & mask);
}
