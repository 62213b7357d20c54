import { createHash, pbkdf2 } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CedarPolicyShield, DEFAULT_POLICY_ID, PolicyError, loadPolicyFiles, loadPolicySet, type LoadedPolicySet } from './policy';

const REPO_POLICY = resolve(__dirname, '../../../policy/shield.cedar');
const REPO_SCHEMA = resolve(__dirname, '../../../policy/shield.cedarschema');
const SCHEMA = readFileSync(REPO_SCHEMA, 'utf8');
const PARTNER = 'svc://cx-ai/v1';

describe('policy/shield.cedar (the repository policy, checked in CI)', () => {
  it('parses, gives every policy an @id and validates against policy/shield.cedarschema', () => {
    const set = loadPolicyFiles(REPO_POLICY, REPO_SCHEMA);
    expect(set.ids).toEqual(['binding.writes-channel', 'binding.writes-key', 'binding.pqc-hybrid', 'floor.reads-degrade']);
    expect(set.hash).toBe(createHash('sha256').update(readFileSync(REPO_POLICY)).digest('hex'));
  });

  it('decides both shields per route, naming the deciding policies and stamping the hash', () => {
    const shield = new CedarPolicyShield({ policyPath: REPO_POLICY, schemaPath: REPO_SCHEMA, watchIntervalMs: 0 });
    const hash = shield.hash;
    expect(shield.decide({ method: 'POST', path: '/v1/infer' }, PARTNER)).toEqual({
      requireChannelBinding: true,
      requireKeyBinding: true,
      requireHybrid: false,
      whenOpen: 'fail_closed',
      policyId: 'binding.writes-channel,binding.writes-key',
      policyHash: hash,
    });
    expect(shield.decide({ method: 'get', path: '/v1/profile' }, PARTNER)).toEqual({
      requireChannelBinding: false,
      requireKeyBinding: false,
      requireHybrid: false,
      whenOpen: 'degrade',
      policyId: 'floor.reads-degrade',
      policyHash: hash,
    });
    expect(shield.decide({ method: 'POST', path: '/v1/pqc/sign' }, PARTNER)).toMatchObject({
      requireHybrid: true,
      policyId: 'binding.pqc-hybrid,binding.writes-channel,binding.writes-key',
    });
  });
});

describe('loadPolicySet', () => {
  const policy = (id: string | null, body: string) => `${id ? `@id("${id}")\n` : ''}${body}\n`;
  const channel = 'permit (principal, action == Signet::Action::"RequireChannelBinding", resource)';

  it('refuses a policy that does not validate against the schema', () => {
    const bad = policy('bad.attr', `${channel} when { resource.host == "x" };`);
    expect(() => loadPolicySet(bad, SCHEMA)).toThrow(PolicyError);
    expect(() => loadPolicySet(bad, SCHEMA)).toThrow(/does not validate against its schema: bad.attr/);
    expect(() => loadPolicySet(policy('bad.action', 'permit (principal, action == Signet::Action::"Nope", resource);'), SCHEMA)).toThrow(/does not validate/);
  });

  it('refuses policies without an @id, with a repeated one, or that do not parse', () => {
    expect(() => loadPolicySet(policy(null, `${channel};`), SCHEMA)).toThrow(/needs an @id/);
    expect(() => loadPolicySet(policy('a', `${channel};`) + policy('a', `${channel};`), SCHEMA)).toThrow(/used twice/);
    expect(() => loadPolicySet(policy(DEFAULT_POLICY_ID, `${channel};`), SCHEMA)).toThrow(/reserved/);
    expect(() => loadPolicySet('permit (principal', SCHEMA)).toThrow(/does not parse/);
    expect(() => loadPolicySet(policy('a', `${channel};`), 'namespace {')).toThrow(/schema does not parse/);
  });
});

describe('CedarPolicyShield', () => {
  let dir: string;
  let paths: { policyPath: string; schemaPath: string };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'shield-'));
    paths = { policyPath: join(dir, 'shield.cedar'), schemaPath: join(dir, 'shield.cedarschema') };
    copyFileSync(REPO_SCHEMA, paths.schemaPath);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('names the default when no policy applies: no requirement, fail closed', () => {
    writeFileSync(paths.policyPath, '@id("only.pqc")\npermit (principal, action == Signet::Action::"RequireHybrid", resource) when { resource.path == "/pqc" };\n');
    const shield = new CedarPolicyShield({ ...paths, watchIntervalMs: 0 });
    expect(shield.decide({ method: 'POST', path: '/other' }, PARTNER)).toMatchObject({
      requireChannelBinding: false,
      requireKeyBinding: false,
      requireHybrid: false,
      whenOpen: 'fail_closed',
      policyId: DEFAULT_POLICY_ID,
    });
  });

  it('a forbid overrides a permit, and the decision names the forbid', () => {
    writeFileSync(
      paths.policyPath,
      [
        '@id("floor.all-degrade")\npermit (principal, action == Signet::Action::"DegradeWhenOpen", resource);',
        '@id("floor.partner-b-closed")\nforbid (principal == Signet::Partner::"svc://b/v1", action == Signet::Action::"DegradeWhenOpen", resource);',
      ].join('\n'),
    );
    const shield = new CedarPolicyShield({ ...paths, watchIntervalMs: 0 });
    expect(shield.decide({ method: 'GET', path: '/x' }, PARTNER)).toMatchObject({ whenOpen: 'degrade', policyId: 'floor.all-degrade' });
    expect(shield.decide({ method: 'GET', path: '/x' }, 'svc://b/v1')).toMatchObject({ whenOpen: 'fail_closed', policyId: 'floor.partner-b-closed' });
  });

  it('will not start on an invalid policy file', () => {
    writeFileSync(paths.policyPath, '@id("x")\npermit (principal, action == Signet::Action::"RequireHybrid", resource) when { resource.nope };\n');
    expect(() => new CedarPolicyShield({ ...paths, watchIntervalMs: 0 })).toThrow(PolicyError);
  });

  it('reloads on file change with a new hash, and keeps the last valid set when the new one is invalid', async () => {
    copyFileSync(REPO_POLICY, paths.policyPath);
    const reloads: LoadedPolicySet[] = [];
    const errors: Error[] = [];
    const shield = new CedarPolicyShield({ ...paths, watchIntervalMs: 20, onReload: (s) => reloads.push(s), onError: (e) => errors.push(e) });
    try {
      const route = { method: 'POST', path: '/v1/infer' };
      const before = shield.decide(route, PARTNER);
      expect(before.whenOpen).toBe('fail_closed');
      // Raise the availability floor for writes (the pilot's day 5).
      const raised = `${readFileSync(REPO_POLICY, 'utf8')}\n@id("floor.writes-degrade")\npermit (principal, action == Signet::Action::"DegradeWhenOpen", resource);\n`;
      writeFileSync(paths.policyPath, raised);
      await waitFor(() => reloads.length === 1);
      const after = shield.decide(route, PARTNER);
      expect(after).toMatchObject({ whenOpen: 'degrade', policyHash: createHash('sha256').update(raised).digest('hex') });
      expect(after.policyId).toContain('floor.writes-degrade');
      expect(after.policyHash).not.toBe(before.policyHash);

      writeFileSync(paths.policyPath, `${raised}\n@id("broken")\npermit (principal, action, resource) when { resource.nope };\n`);
      await waitFor(() => errors.length >= 1);
      expect(errors[0]).toBeInstanceOf(PolicyError);
      expect(shield.decide(route, PARTNER)).toEqual(after);
      expect(reloads).toHaveLength(1);
    } finally {
      shield.close();
    }
  });
});

describe('CedarPolicyShield file watch, started on a busy process', () => {
  it('still picks up a change made before the watch first looked at the files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctp-shield-busy-'));
    const policyPath = join(dir, 'shield.cedar');
    copyFileSync(REPO_POLICY, policyPath);
    // Occupy libuv's thread pool, so the watch's first stat of the files (the state it compares
    // with) is taken only after the change below: a slow start, as on a loaded machine.
    const busy = Array.from({ length: 8 }, () => new Promise((done) => pbkdf2('x', 'y', 300_000, 32, 'sha256', done)));
    const reloads: LoadedPolicySet[] = [];
    const shield = new CedarPolicyShield({ policyPath, schemaPath: REPO_SCHEMA, watchIntervalMs: 20, onReload: (set) => reloads.push(set) });
    try {
      writeFileSync(policyPath, `${readFileSync(REPO_POLICY, 'utf8')}\n@id("floor.writes-degrade")\npermit (principal, action == Signet::Action::"DegradeWhenOpen", resource);\n`);
      await Promise.all(busy);
      await waitFor(() => reloads.length === 1, 5_000);
      expect(shield.decide({ method: 'POST', path: '/v1/infer' }, PARTNER).whenOpen).toBe('degrade');
    } finally {
      shield.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}
