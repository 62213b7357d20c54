import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DENY_REASON_CODES, PROBLEMS } from '@ctp/ctp-core';
import { OpenApiContract } from '@ctp/testing';
import { upConfigSchema } from '@ctp/app-ctp/src/config';
import { introspectorConfigSchema } from '@ctp/app-introspector/src/config';
import { issuerConfigSchema } from '@ctp/app-issuer/src/config';
import { ledgerWriterConfigSchema } from '@ctp/app-ledger-writer/src/config';
import { broadcasterConfigSchema } from '@ctp/app-revocation-broadcaster/src/config';
import { CHARTS, read, readYaml, render, ROOT, SERVICE_CHARTS } from './repo';

/**
 * The docs against the code: every file the README and docs/ name exists (migrations included), the
 * README's configuration table lists exactly the variables each app's config schema reads, with the
 * apps and defaults the schemas have, docs/operations.md's chart `config` table matches the charts'
 * values, and the error codes match docs/errors.md and the OpenAPI enums.
 */
type Shape = Record<string, { safeParse(value: unknown): { success: boolean; data?: unknown } }>;
const APPS: Record<string, Shape> = {
  'ctp up': upConfigSchema.shape as unknown as Shape,
  issuer: issuerConfigSchema.shape as unknown as Shape,
  introspector: introspectorConfigSchema.shape as unknown as Shape,
  'revocation-broadcaster': broadcasterConfigSchema.shape as unknown as Shape,
  'ledger-writer': ledgerWriterConfigSchema.shape as unknown as Shape,
};
const SERVICES = ['issuer', 'introspector', 'revocation-broadcaster', 'ledger-writer'];
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`), ...readdirSync(join(ROOT, 'docs/runbooks')).map((f) => `docs/runbooks/${f}`)];

/** The schema's default for a variable: the value it parses `undefined` to (undefined when it has none). */
function schemaDefault(shape: Shape, name: string): unknown {
  const result = shape[name]!.safeParse(undefined);
  return result.success ? result.data : undefined;
}

interface Row {
  name: string;
  users: string[];
  defaults: string;
}
function readmeRows(): Row[] {
  const rows: Row[] = [];
  for (const m of read(join(ROOT, 'README.md')).matchAll(/^\| `((?:CTP_)[A-Z0-9_]+)` \| ([^|]+) \| ([^|]+) \|/gm)) {
    const cell = m[2]!.trim();
    const users = cell === 'same' ? rows[rows.length - 1]!.users : cell === 'all' ? Object.keys(APPS) : cell.split(/,\s*/);
    rows.push({ name: m[1]!, users, defaults: m[3]!.trim() });
  }
  return rows;
}

/** The documented default per app: "ctp up `8000`, issuer `8001`", "ctp up: unset (...); services: `x`", or one value for all. */
function documentedDefault(row: Row, app: string): string | undefined | null {
  const split = /^`([^`]*)` for ctp up, else `([^`]*)`/.exec(row.defaults);
  if (split) return app === 'ctp up' ? split[1]! : split[2]!;
  const parts = row.defaults.split(/[;,]\s*(?=(?:ctp up|issuer|introspector|revocation-broadcaster|ledger-writer|services)\b)/);
  const mine = parts.find((p) => p.startsWith(`${app}`) || (app !== 'ctp up' && p.startsWith('services')));
  const cell = parts.length > 1 ? mine?.replace(/^[a-z -]+:?\s*/, '') : row.defaults;
  if (cell === undefined) return null;
  if (/^(unset|none|\(unset\))/.test(cell)) return undefined;
  if (/^empty\b/.test(cell)) return '';
  const literal = /^`([^`]*)`/.exec(cell);
  return literal ? literal[1]! : null;
}

describe('docs name files that exist', () => {
  it.each(DOCS)('%s: every repository path and migration it names exists', (doc) => {
    const text = read(join(ROOT, doc));
    const missing: string[] = [];
    for (const m of text.matchAll(/`((?:apps|libs|tools|docs|infra|charts|openapi|tests)\/[A-Za-z0-9_.\-/]+?)`/g)) {
      const path = m[1]!.replace(/[.,:]$/, '');
      if (/[<>*]/.test(path) || path.includes('...')) continue;
      if (!existsSync(join(ROOT, path)) && !existsSync(join(ROOT, 'docs', path))) missing.push(path);
    }
    const migrations = readdirSync(join(ROOT, 'libs/ledger/migrations'));
    for (const m of text.matchAll(/\b(\d{4}_[a-z0-9_]+\.sql)\b/g)) if (!migrations.includes(m[1]!)) missing.push(m[1]!);
    for (const m of text.matchAll(/[Mm]igration (\d{4})\b(?![_\d])/g)) if (!migrations.some((f) => f.startsWith(`${m[1]}_`))) missing.push(`migration ${m[1]}`);
    expect(missing).toEqual([]);
  });
});

describe('README configuration table matches the config schemas', () => {
  const rows = readmeRows();

  it('lists each CTP_* variable once, and every variable any app reads', () => {
    const names = rows.map((r) => r.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    const read = new Set(Object.values(APPS).flatMap((shape) => Object.keys(shape)));
    expect([...read].filter((n) => n.startsWith('CTP_') && !names.includes(n)).sort()).toEqual([]);
    expect(names.filter((n) => !read.has(n))).toEqual([]);
  });

  it('names exactly the apps that read each variable', () => {
    const wrong = rows
      .map((r) => ({ name: r.name, documented: [...r.users].sort(), actual: Object.keys(APPS).filter((app) => r.name in APPS[app]!).sort() }))
      .filter((r) => JSON.stringify(r.documented) !== JSON.stringify(r.actual));
    expect(wrong).toEqual([]);
  });

  it('gives the defaults the schemas have', () => {
    const wrong: string[] = [];
    for (const row of rows) {
      for (const app of row.users.filter((a) => row.name in (APPS[a] ?? {}))) {
        const documented = documentedDefault(row, app);
        if (documented === null) continue;
        const actual = schemaDefault(APPS[app]!, row.name);
        // The documented text parsed by the same schema must give the schema's default.
        const parsed = documented === undefined ? undefined : APPS[app]![row.name]!.safeParse(documented);
        const same = documented === undefined ? actual === undefined : parsed!.success && JSON.stringify(parsed!.data) === JSON.stringify(actual);
        if (!same) wrong.push(`${row.name} (${app}): README ${documented === undefined ? 'unset' : documented}, schema ${actual === undefined ? 'unset' : JSON.stringify(actual)}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('the charts set what README.md documents', () => {
  /** Documented for the service but never set by its chart, on purpose. */
  const NOT_SET: Record<string, string[]> = {
    issuer: ['CTP_RATE_LIMIT_INTROSPECT', 'CTP_RATE_LIMIT_REVOKE', 'CTP_KMS_ENDPOINT'],
    introspector: ['CTP_RATE_LIMIT_ISSUE', 'CTP_RATE_LIMIT_REVOKE'],
    'revocation-broadcaster': ['CTP_RATE_LIMIT_ISSUE', 'CTP_RATE_LIMIT_INTROSPECT'],
    'ledger-writer': [],
  };
  // Every option on: each variable a chart can set is set.
  const deployments = render('ctp', ['-f', 'ctp/ci/ci-values.yaml', '-f', 'ctp/ci/all-options-values.yaml']).objects.filter((o) => o.kind === 'Deployment');
  const rows = readmeRows();

  it.each(SERVICES)('%s: sets every variable README.md lists for it (other endpoints\' rate limits and the KMS emulator endpoint aside), and no undocumented one', (service) => {
    const deployment = deployments.find((d) => d.metadata.name === `ci-${service}`) as unknown as { spec: { template: { spec: { containers: { env: { name: string }[] }[] } } } };
    const set = new Set(deployment.spec.template.spec.containers[0]!.env.map((e) => e.name).filter((n) => n.startsWith('CTP_')));
    const documented = rows.filter((r) => r.users.includes(service)).map((r) => r.name);
    expect(documented.filter((n) => !set.has(n)).sort()).toEqual([...NOT_SET[service]!].sort());
    expect([...set].filter((n) => !rows.some((r) => r.name === n))).toEqual([]);
  });
});

describe("docs/operations.md chart configuration matches the charts' values", () => {
  const operations = read(join(ROOT, 'docs/operations.md'));
  const section = operations.slice(operations.indexOf('| service | `config` keys (defaults) |'));
  const rows = [...section.matchAll(/^\| (issuer|introspector|revocation-broadcaster|ledger-writer) \| (.+) \|$/gm)];

  it('has one row per service chart', () => {
    expect(rows.map((r) => r[1])).toEqual(SERVICE_CHARTS);
  });

  it.each(SERVICES)('%s: lists every config key of the chart with its default', (chart) => {
    const config = (readYaml(join(CHARTS, chart, 'values.yaml')) as { config: Record<string, unknown> }).config;
    const cell = rows.find((r) => r[1] === chart)![2]!;
    const documented = [...cell.matchAll(/`(CTP_[A-Z0-9_]+)`(?: \/ `(CTP_[A-Z0-9_]+)`)? \(([^)]*)\)/g)];
    const names = documented.flatMap((m) => [m[1]!, ...(m[2] ? [m[2]] : [])]);
    expect(names.sort()).toEqual(Object.keys(config).sort());
    for (const m of documented) {
      const value = String(config[m[1]!]);
      const text = m[3]!.split(/[,:;]/)[0]!.trim();
      expect([m[1], text === 'empty' ? '' : text]).toEqual([m[1], value === '' ? '' : value]);
    }
  });
});

describe('error codes', () => {
  it('every error code is in docs/errors.md and in the OpenAPI enums, and nothing else is', () => {
    const schemas = (new OpenApiContract().spec as { components: { schemas: Record<string, { enum: string[] }> } }).components.schemas;
    const errorsDoc = read(join(ROOT, 'docs/errors.md'));
    for (const code of [...DENY_REASON_CODES, ...Object.keys(PROBLEMS)]) expect(errorsDoc).toContain(`\`${code}\``);
    expect([...schemas.DenyReason!.enum].sort()).toEqual([...DENY_REASON_CODES].sort());
    expect([...schemas.ProblemCode!.enum].sort()).toEqual(Object.keys(PROBLEMS).sort());
  });
});
