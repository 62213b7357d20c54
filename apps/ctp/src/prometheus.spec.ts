import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { EventBus } from '@ctp/bus';
import { createLogger } from '@ctp/http';
import { RevocationSync } from '@ctp/revocation';
import { freePort, GUIDE_ENVELOPE, openSse, postJson, REPO_ROOT, waitFor, type SseClient } from '@ctp/testing';
import { upConfigSchema } from './config';
import { startCtp, type RunningCtp } from './up';

/**
 * End to end: a real Prometheus (Debian's package, /usr/bin/prometheus) scrapes `ctp up`, evaluates
 * the repository's rule file as is (infra/prometheus_alerts_ctp_slos.yaml), and every recording rule
 * and every query of the Grafana dashboard (infra/grafana_ctp_revocation_dashboard.json) must return
 * data once light traffic has run: issue, introspect (allow and several deny reasons), revoke, consent-dialog
 * outcomes (POST /funnel-events), an SSE follower, partner pulls, one failed issuance.
 *
 * `ctp up` serves every service from one process, so the one target is scraped under each job name the
 * rules and the dashboard select on (the charts' ServiceMonitors set job="ctp-<service>"), with a
 * static `namespace` label so `by (namespace)` and `namespace=~"$namespace"` match. Each sample is
 * thus stored once per job: sums are 4x the real counts, ratios and quantiles are unchanged.
 *
 * The availability rules need no 5xx: their error terms fall back to 0 when no 5xx series exists.
 * One thing `ctp up` never does on its own is provoked, through the production code path:
 * - a pull-channel revocation receipt: ctp up's own revocation view is fed by the in-process bus,
 *   which never disconnects, so it only ever observes channel="push". A second introspector view
 *   (the production RevocationSync) reads ctp up's CRL over a bus that is unreachable, which is the
 *   state in which a deployed introspector pulls; its receipts land in the same process registry,
 *   hence in ctp up's /metrics, as ctp_revocation_propagation_seconds{channel="pull"}.
 */

const RULES_FILE = join(REPO_ROOT, 'infra/prometheus_alerts_ctp_slos.yaml');
const DASHBOARD_FILE = join(REPO_ROOT, 'infra/grafana_ctp_revocation_dashboard.json');
/** Every job the rules and the dashboard select on (CTPServiceDown names them; ".*ledger-writer.*" and "ctp-.*" match them). */
const JOBS = ['ctp-issuer', 'ctp-introspector', 'ctp-revocation-broadcaster', 'ctp-ledger-writer'];
const NAMESPACE = 'ctp-e2e';
/** Grafana's built-in variables, as a dashboard over the last few minutes would expand them. */
const GRAFANA_BUILTINS: [string, string][] = [
  ['$__rate_interval', '1m'],
  ['$__interval_ms', '15000'],
  ['$__interval', '15s'],
  ['$__range', '5m'],
];
/** Traffic runs at least this long (several 1 s scrapes and rule evaluations), then until every query has data. */
const MIN_TRAFFIC_MS = 6_000;
const MAX_WAIT_FOR_DATA_MS = 30_000;

/**
 * Queries that legitimately return nothing in this setup, by check name, with the reason. The test
 * fails when any other query is empty, and when one of these returns data (then remove it here).
 * Empty today: the pull receipts ctp up lacks are provoked above instead, and
 * ctp_ledger_chain_breaks_total is an unlabelled counter that prom-client exports as 0 from the start,
 * so its increase is 0, which is data.
 */
const RATE_LIMITED_PANEL = 'dashboard panel 33 "Rate-limited requests by partner" target A';
const RATE_LIMITED_EXPR = 'sum by (endpoint, partner) (rate(ctp_rate_limited_total{namespace=~"$namespace"}[$__rate_interval]))';
const NO_PARTNER_OVER_ITS_LIMIT = 'no partner exceeds its rate limit in this traffic (429s are covered by libs/http/src/rate_limit.spec.ts)';
const STREAMS_REFUSED_PANEL = 'dashboard panel 33 "Rate-limited requests by partner" target C';
const STREAMS_REFUSED_EXPR = 'sum by (partner) (rate(ctp_push_streams_refused_total{namespace=~"$namespace"}[$__rate_interval]))';
const NO_PARTNER_AT_ITS_STREAM_CAP = 'no partner opens CTP_PUSH_MAX_STREAMS push streams in this traffic (the cap is covered by apps/revocation-broadcaster/src/push.spec.ts)';
const EXPECTED_EMPTY: Record<string, string> = {
  [`${RATE_LIMITED_PANEL} ($namespace=${NAMESPACE}): ${RATE_LIMITED_EXPR}`]: NO_PARTNER_OVER_ITS_LIMIT,
  [`${RATE_LIMITED_PANEL} ($namespace=All (.*)): ${RATE_LIMITED_EXPR}`]: NO_PARTNER_OVER_ITS_LIMIT,
  [`${STREAMS_REFUSED_PANEL} ($namespace=${NAMESPACE}): ${STREAMS_REFUSED_EXPR}`]: NO_PARTNER_AT_ITS_STREAM_CAP,
  [`${STREAMS_REFUSED_PANEL} ($namespace=All (.*)): ${STREAMS_REFUSED_EXPR}`]: NO_PARTNER_AT_ITS_STREAM_CAP,
};

interface RuleFile {
  groups: { name: string; rules: { record?: string; alert?: string; expr: string; labels?: Record<string, string> }[] }[];
}
interface Panel {
  id: number;
  title: string;
  targets?: { refId: string; expr: string }[];
  panels?: Panel[];
}
interface Check {
  name: string;
  query: string;
  /** Recording rules aggregated by (namespace) must keep the label the dashboard filters on. */
  needsNamespace?: boolean;
  /** A panel that shows one series per SLO or per channel must show each of them. */
  expectEach?: [label: string, values: string[]];
}
interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const selector = (name: string, labels: Record<string, string> = {}) =>
  `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}=${JSON.stringify(String(v))}`)
    .join(', ')}}`;

function ruleChecks(rules: RuleFile): Check[] {
  return rules.groups.flatMap((group) =>
    group.rules
      .filter((rule) => rule.record !== undefined)
      .map((rule) => ({
        name: `recording rule ${selector(rule.record!, rule.labels)} (group ${group.name})`,
        query: selector(rule.record!, rule.labels),
        needsNamespace: !/^\s*vector\(/.test(rule.expr),
      })),
  );
}

function expandGrafana(expr: string, namespace: string): string {
  let out = expr.replaceAll('${namespace}', namespace).replaceAll('$namespace', namespace);
  for (const [variable, value] of GRAFANA_BUILTINS) out = out.replaceAll(variable, value);
  return out;
}

function dashboardChecks(panels: Panel[], namespaces: [string, string][], slos: string[]): Check[] {
  const flat = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...flat(p.panels ?? [])]);
  const expectEach = (expr: string): Check['expectEach'] =>
    /\bslo:/.test(expr) ? ['sloth_slo', slos] : /\bby \(channel\b/.test(expr) ? ['channel', ['pull', 'push']] : undefined;
  return flat(panels).flatMap((panel) =>
    (panel.targets ?? []).flatMap((target) =>
      namespaces.map(([label, value]) => ({
        name: `dashboard panel ${panel.id} "${panel.title}" target ${target.refId} ($namespace=${label}): ${target.expr}`,
        query: expandGrafana(target.expr, value),
        expectEach: expectEach(target.expr),
      })),
    ),
  );
}

/** Stands in for NATS while it is unreachable: nothing is pushed, so the view lives on CRL pulls. */
function unreachableBus(): EventBus {
  const down = () => Promise.reject(new Error('event bus unreachable (simulated partition)'));
  return {
    status: 'disconnected',
    ensureStreams: down,
    publish: down,
    read: down,
    consume: down,
    lastSeq: down,
    lastBySubject: down,
    consumerLag: down,
    backlog: down,
    subscribe: async () => ({ healthy: false, stop: async () => undefined }),
    onStatus: () => undefined,
    close: async () => undefined,
  };
}

interface Prometheus {
  url: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

async function startPrometheus(dir: string, configFile: string): Promise<Prometheus> {
  const version = spawnSync('prometheus', ['--version'], { encoding: 'utf8' });
  if (version.error) {
    throw new Error(`prometheus is not installed (${version.error.message}): \`apt-get install -y prometheus\` provides /usr/bin/prometheus (CI installs it)`);
  }
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      'prometheus',
      [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, `tsdb-${attempt}`)}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
    child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
    const url = `http://127.0.0.1:${port}`;
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(killer);
    };
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error('exited');
          return (await fetch(`${url}/-/ready`)).ok;
        },
        15_000,
        'Prometheus /-/ready',
      );
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}`);
      return { url, child, output: () => output, stop };
    } catch (error) {
      await stop();
      lastError = new Error(`${(error as Error).message}; prometheus output:\n${output}`);
      if (!/address already in use/.test(output)) break;
    }
  }
  throw lastError!;
}

describe('Prometheus scraping ctp up: every recording rule and every dashboard query returns data', () => {
  const rules = parse(readFileSync(RULES_FILE, 'utf8')) as RuleFile;
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: Panel[] };
  const dir = mkdtempSync(join(tmpdir(), 'ctp-prometheus-'));
  let ctp: RunningCtp | undefined;
  let pullView: RevocationSync | undefined;
  let prometheus: Prometheus | undefined;
  let sse: SseClient | undefined;

  const api = async <T>(path: string, params?: Record<string, string>): Promise<T> => {
    const res = await fetch(`${prometheus!.url}${path}`, params ? { method: 'POST', body: new URLSearchParams(params) } : {});
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(body.error ?? `HTTP ${res.status}`);
    return body.data;
  };

  /** What is wrong with one check's answer, or undefined when it returned data. */
  const problemOf = async (check: Check): Promise<string | undefined> => {
    let data: { resultType: string; result: Sample[] | [number, string] };
    try {
      data = await api('/api/v1/query', { query: check.query });
    } catch (error) {
      return `query failed (${(error as Error).message})`;
    }
    const samples: Sample[] = data.resultType === 'vector' ? (data.result as Sample[]) : [{ metric: {}, value: data.result as [number, string] }];
    if (samples.length === 0) return 'returned no series';
    const finite = samples.filter((s) => Number.isFinite(Number(s.value[1])));
    if (finite.length === 0) return `returned only NaN/Inf (${samples.length} series)`;
    if (check.needsNamespace && !samples.some((s) => s.metric.namespace === NAMESPACE)) {
      return `lost the namespace label (series: ${samples.map((s) => JSON.stringify(s.metric)).join(' ')})`;
    }
    if (check.expectEach) {
      const [label, values] = check.expectEach;
      const missing = values.filter((v) => !finite.some((s) => s.metric[label] === v));
      if (missing.length > 0) return `has no data for ${label}=${missing.join(', ')}`;
    }
    return undefined;
  };

  /** Checks in parallel, a few at a time: name -> problem. */
  const problemsOf = async (checks: Check[]): Promise<Map<string, string>> => {
    const problems = new Map<string, string>();
    let next = 0;
    const worker = async () => {
      while (next < checks.length) {
        const check = checks[next++]!;
        const problem = await problemOf(check);
        if (problem) problems.set(check.name, `${problem}: ${check.query}`);
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    return problems;
  };

  beforeAll(async () => {
    const config = upConfigSchema.parse({
      CTP_PORT: '0',
      CTP_DATA_DIR: join(dir, 'ctp'),
      CTP_LEDGER_BATCH_WAIT_MS: '50',
      CTP_LEDGER_CHECKPOINT_INTERVAL_MS: '200',
      // The retention job exports the entries per tier (a dashboard panel); nothing is old enough to move.
      CTP_LEDGER_RETENTION_INTERVAL_MS: '2000',
      CTP_LEDGER_WARM_DIR: join(dir, 'warm'),
      CTP_LEDGER_COLD_DIR: join(dir, 'cold'),
    });
    ctp = await startCtp(config, createLogger('test'));
    pullView = new RevocationSync({ bus: unreachableBus(), store: ctp.revocationList, pullIntervalMs: 200, staleAfterMs: 5_000 });
    await pullView.start();

    const target = new URL(ctp.url).host;
    const configFile = join(dir, 'prometheus.yml');
    // YAML is a superset of JSON.
    writeFileSync(
      configFile,
      JSON.stringify({
        global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
        rule_files: [RULES_FILE],
        scrape_configs: JOBS.map((job) => ({ job_name: job, static_configs: [{ targets: [target], labels: { namespace: NAMESPACE } }] })),
      }),
    );
    prometheus = await startPrometheus(dir, configFile);
  }, 60_000);

  afterAll(async () => {
    sse?.close();
    await prometheus?.stop();
    await pullView?.stop();
    await ctp?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('loads the rule file, scrapes every job, and has data for every rule and query after traffic', async () => {
    const url = ctp!.url;
    const seen = { statuses: new Map<number, number>(), reasons: new Map<string, number>(), revoked: 0, failures: [] as string[] };
    const bump = <K>(m: Map<K, number>, k: K) => m.set(k, (m.get(k) ?? 0) + 1);

    // The rule file as is: every group loaded, every rule evaluated without error.
    await waitFor(
      async () => {
        const { groups } = await api<{ groups: { rules: { health: string }[] }[] }>('/api/v1/rules');
        return groups.length === rules.groups.length && groups.every((g) => g.rules.every((r) => r.health === 'ok'));
      },
      15_000,
      'every rule group loaded and evaluated',
    );

    sse = await openSse(`${url}/revocations/stream?since=0`);
    expect(sse.status).toBe(200);

    let stopped = false;
    const introspect = async (token: string, envelope: object = GUIDE_ENVELOPE) => {
      const r = await postJson(`${url}/introspect`, { token, context_envelope: envelope });
      bump(seen.statuses, r.status);
      bump(seen.reasons, (r.body.reason as string | null) ?? String(r.body.decision));
    };
    const traffic = (async () => {
      for (let i = 1; !stopped && i <= 2_000; i++) {
        try {
          const issued = await postJson(`${url}/issue`, GUIDE_ENVELOPE);
          bump(seen.statuses, issued.status);
          if (issued.status !== 200) continue;
          const { token, jti } = issued.body as { token: string; jti: string };
          // The consent dialog's outcomes, as a partner backend relays them (the funnel recording rules).
          for (const outcome of ['shown', 'agreed', ...(i % 4 === 0 ? ['revoked'] : [])]) {
            const { ts: _ts, channel: _c, processor: _p, retention: _r, ...context } = GUIDE_ENVELOPE;
            bump(seen.statuses, (await postJson(`${url}/funnel-events`, { ...context, outcome, at: new Date().toISOString() })).status);
          }
          await introspect(token);
          if (i % 3 === 0) await introspect(token, { ...GUIDE_ENVELOPE, ui_copy_id: 'consent-modal-2025-11-01#fr-FR' });
          if (i % 5 === 0) await introspect('not-a-jwt');
          if (i % 4 === 0) {
            const revoked = await postJson(`${url}/revoke`, { jti, reason: 'user_revoked' });
            bump(seen.statuses, revoked.status);
            if (revoked.status === 200) seen.revoked++;
            await introspect(token);
          }
          if (i % 10 === 0) {
            for (const path of ['/revocations?since=0', '/ledger/checkpoint']) bump(seen.statuses, (await fetch(`${url}${path}`)).status);
          }
        } catch (error) {
          seen.failures.push((error as Error).message);
          if (seen.failures.length > 20) throw new Error(`traffic keeps failing: ${seen.failures.slice(-3).join('; ')}`);
        }
        await sleep(100);
      }
    })();

    const checks = [
      ...ruleChecks(rules),
      ...dashboardChecks(
        dashboard.panels,
        [
          ['All (.*)', '.*'],
          [NAMESPACE, NAMESPACE],
        ],
        [...new Set(rules.groups.flatMap((g) => g.rules.map((r) => r.labels?.sloth_slo ?? '')).filter(Boolean))].sort(),
      ),
    ];
    // A query the dashboard could not expand would silently ask Prometheus for "$something".
    expect(checks.filter((c) => /\$\w/.test(c.query)).map((c) => c.name)).toEqual([]);
    let problems = new Map<string, string>();
    const unexpected = () => [...problems].filter(([name]) => !(name in EXPECTED_EMPTY)).map(([name, problem]) => `${name}\n    ${problem}`);
    try {
      await sleep(MIN_TRAFFIC_MS);
      const deadline = Date.now() + MAX_WAIT_FOR_DATA_MS;
      for (;;) {
        problems = await problemsOf(checks);
        if (unexpected().length === 0 || Date.now() > deadline) break;
        await sleep(1_000);
      }
    } finally {
      stopped = true;
      await traffic;
    }

    // The traffic was what it claims to be.
    expect(seen.failures).toEqual([]);
    expect(seen.statuses.get(200)).toBeGreaterThan(20);
    expect(seen.revoked).toBeGreaterThanOrEqual(3);
    expect([...seen.reasons.keys()].sort()).toEqual(['allow', 'context_mismatch', 'malformed', 'revoked']);
    // The SSE follower got every revocation pushed (its route counts when the stream closes, in afterAll).
    await waitFor(async () => sse!.events.filter((e) => e.event === 'revocation').length >= seen.revoked, 5_000, `${seen.revoked} SSE revocations`);

    // Every query names itself when it has no data.
    expect(unexpected()).toEqual([]);
    // The allow-list is exact: an entry that now returns data must go.
    expect(Object.keys(EXPECTED_EMPTY).filter((name) => !problems.has(name))).toEqual([]);
    expect(Object.keys(EXPECTED_EMPTY).filter((name) => !checks.some((c) => c.name === name))).toEqual([]);

    // Each job's target is up, the dashboard's $namespace variable finds the label, and no rule ever failed.
    const { activeTargets } = await api<{ activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] }>('/api/v1/targets');
    expect(activeTargets.map((t) => [t.labels.job, t.labels.namespace, t.health, t.lastError]).sort()).toEqual(JOBS.map((job) => [job, NAMESPACE, 'up', '']).sort());
    expect(await api('/api/v1/series', { 'match[]': 'ctp_build_info' }).then((s) => [...new Set((s as { namespace: string }[]).map((m) => m.namespace))])).toEqual([NAMESPACE]);
    const { groups } = await api<{ groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[] }>('/api/v1/rules');
    const shape = (gs: { name: string; rules: unknown[] }[]) => gs.map((g) => `${g.name}: ${g.rules.length} rules`).sort();
    expect(shape(groups)).toEqual(shape(rules.groups));
    const unhealthy = groups.flatMap((g) => g.rules.filter((r) => r.health !== 'ok' || r.lastError).map((r) => `${g.name}/${r.name}: ${r.health} ${r.lastError ?? ''}`));
    expect(unhealthy).toEqual([]);
    const self = await (await fetch(`${prometheus!.url}/metrics`)).text();
    const evalFailures = [...self.matchAll(/^prometheus_rule_evaluation_failures_total\{[^}]*\} (\S+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(evalFailures).toBe(0);
  }, 90_000);
});
