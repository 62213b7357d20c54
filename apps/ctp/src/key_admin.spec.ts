import { execFile } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@ctp/http';
import { generateOperatorKey, signStatement } from '@ctp/keys';
import { type ApprovalStatement } from '@ctp/keys/internal';
import { generateApiKey } from '@ctp/partners';
import { GUIDE_ENVELOPE, OpenApiContract, postJson, REPO_ROOT, waitFor } from '@ctp/testing';
import { upConfigSchema } from './config';
import { startCtp, type RunningCtp } from './up';

const contract = new OpenApiContract();

/** Runs the ctp CLI without blocking this process, which serves the requests the CLI makes. */
function ctpCli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['apps/ctp/bin/ctp.js', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Dual-controlled rotation and emergency revocation in `ctp up` (in-process bus, embedded ledger). */
describe('key administration in ctp up', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ctp-keyadmin-'));
  const operators = { alice: generateOperatorKey('alice'), bob: generateOperatorKey('bob') };
  const operatorsFile = join(dataDir, 'operators.json');
  writeFileSync(operatorsFile, JSON.stringify({ operators: [operators.alice.entry, operators.bob.entry] }));
  const sign = (s: ApprovalStatement) => signStatement(s, createPrivateKey(operators[s.operator as keyof typeof operators].privateKeyPem));
  let ctp: RunningCtp;

  beforeAll(async () => {
    ctp = await startCtp(upConfigSchema.parse({ CTP_PORT: '0', CTP_DATA_DIR: join(dataDir, 'data'), CTP_OPERATORS_FILE: operatorsFile }), createLogger('test'));
  });
  afterAll(() => ctp.close());

  const get = async (path: string, template = path) => {
    const r = await fetch(`${ctp.url}${path}`);
    const body = (await r.json()) as Record<string, unknown>;
    contract.validate('GET', template, r.status, r.headers.get('content-type') ?? '', body);
    return { status: r.status, body };
  };
  const post = async (path: string, body: unknown, template: string, headers: Record<string, string> = {}) => {
    const r = await postJson(`${ctp.url}${path}`, body, headers);
    contract.validate('POST', template, r.status, r.contentType, r.body);
    return r;
  };
  const change = (id: string, action: 'rotate' | 'revoke', kid: string) => ({ change_id: id, action, kid, expires_at: Math.floor(Date.now() / 1000) + 600 });
  const propose = (s: ReturnType<typeof change>, operator: string, headers: Record<string, string> = {}) =>
    post('/admin/keys/changes', { id: s.change_id, action: s.action, kid: s.kid, expires_at: s.expires_at, operator, signature: sign({ ...s, operator }) }, '/admin/keys/changes', headers);
  const approve = (s: ReturnType<typeof change>, operator: string) =>
    post(`/admin/keys/changes/${s.change_id}/approvals`, { operator, signature: sign({ ...s, operator }) }, '/admin/keys/changes/{id}/approvals');
  const activeKid = async () => ((await get('/admin/keys')).body.keys as { kid: string; status: string }[]).find((k) => k.status === 'active')!.kid;
  const kidOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid as string;

  it('reports key states, the key age and the rotation policy', async () => {
    const { body } = await get('/admin/keys');
    expect(body).toMatchObject({ rotation_period_seconds: 90 * 86_400, pre_publish_seconds: 120, open_changes: [] });
    expect(body.keys).toEqual([expect.objectContaining({ status: 'active' })]);
  });

  it('opens nothing to a partner API key: only an operator signature counts', async () => {
    const { apiKey } = generateApiKey('acme');
    const kid = await activeKid();
    const forged = { id: 'kc-partner-1', action: 'rotate', kid, expires_at: Math.floor(Date.now() / 1000) + 600 };
    const asPartner = await post('/admin/keys/changes', { ...forged, operator: 'acme', signature: 'A'.repeat(86) }, '/admin/keys/changes', { authorization: `Bearer ${apiKey}` });
    expect(asPartner.body).toMatchObject({ status: 403, code: 'operator_unknown' });
    const noSignature = await post('/admin/keys/changes', forged, '/admin/keys/changes', { authorization: `Bearer ${apiKey}` });
    expect(noSignature.body).toMatchObject({ status: 400, code: 'validation_failed' });
    const badSignature = await post('/admin/keys/changes', { ...forged, operator: 'alice', signature: 'A'.repeat(86) }, '/admin/keys/changes');
    expect(badSignature.body).toMatchObject({ status: 401, code: 'approval_signature_invalid' });
  });

  it('rotates with two operators: the new key is published first, the old one keeps signing until it activates', async () => {
    const before = await activeKid();
    const s = change(`kc-rotate-${Date.now()}`, 'rotate', before);
    expect((await propose(s, 'alice')).status).toBe(201);
    expect((await get(`/admin/keys/changes/${s.change_id}`, '/admin/keys/changes/{id}')).body).toMatchObject({ status: 'open', approvals: [{ operator: 'alice' }] });
    expect((await approve(s, 'alice')).body).toMatchObject({ code: 'approval_duplicate' });
    const applied = await approve(s, 'bob');
    expect(applied.body).toMatchObject({ status: 'applied', new_kid: expect.any(String) });
    const jwks = (await (await fetch(`${ctp.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual([applied.body.new_kid, before]);
    const issued = await post('/issue', GUIDE_ENVELOPE, '/issue');
    expect(kidOf(issued.body.token as string)).toBe(before);
    expect(((await get('/admin/keys')).body.keys as { status: string }[]).map((k) => k.status)).toEqual(['pending', 'active']);
    expect((await approve(s, 'bob')).body).toMatchObject({ code: 'key_change_conflict' });
  });

  it('lets operators propose, approve and check changes from the CLI with their own key files', async () => {
    const created = await ctpCli(['operators', 'new-key', 'carol', '--out', join(dataDir, 'carol.pem')]);
    expect(created.status).toBe(0);
    expect(statSync(join(dataDir, 'carol.pem')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dataDir, 'carol.pem'), 'utf8')).toMatch(/BEGIN PRIVATE KEY/);
    expect(created.stdout).toMatch(/\{"id":"carol","public_key":"[A-Za-z0-9_-]{43}"\}/);
    for (const id of ['alice', 'bob'] as const) writeFileSync(join(dataDir, `${id}.pem`), operators[id].privateKeyPem, { mode: 0o600 });
    const pending = ((await get('/admin/keys')).body.keys as { kid: string; status: string }[]).find((k) => k.status === 'pending')!.kid;
    const proposed = await ctpCli(['keys', 'propose', 'revoke', '--kid', pending, '--operator', 'alice', '--operator-key', join(dataDir, 'alice.pem'), '--url', ctp.url]);
    expect(proposed.status).toBe(0);
    const id = (JSON.parse(proposed.stdout) as { id: string }).id;
    const byCarol = await ctpCli(['keys', 'approve', id, '--operator', 'carol', '--operator-key', join(dataDir, 'carol.pem'), '--url', ctp.url]);
    expect([byCarol.status, JSON.parse(byCarol.stdout).code]).toEqual([1, 'operator_unknown']);
    const approved = await ctpCli(['keys', 'approve', id, '--operator', 'bob', '--operator-key', join(dataDir, 'bob.pem'), '--url', ctp.url]);
    expect(approved.status).toBe(0);
    expect(JSON.parse(approved.stdout)).toMatchObject({ id, action: 'revoke', kid: pending, status: 'applied', new_kid: null });
    const status = await ctpCli(['keys', 'status', '--url', ctp.url]);
    expect(status.status).toBe(0);
    expect((JSON.parse(status.stdout) as { keys: { kid: string; status: string }[] }).keys.find((k) => k.kid === pending)?.status).toBe('revoked');
  });

  it('revokes a compromised key with two operators: its tokens are denied at once, new ones are signed by a replacement', async () => {
    const issued = await post('/issue', GUIDE_ENVELOPE, '/issue');
    const token = issued.body.token as string;
    const introspect = async (t: string) => (await post('/introspect', { token: t, context_envelope: GUIDE_ENVELOPE }, '/introspect')).body;
    expect(await introspect(token)).toMatchObject({ decision: 'allow' });
    const s = change(`kc-revoke-${Date.now()}`, 'revoke', kidOf(token));
    await propose(s, 'bob');
    expect(await introspect(token)).toMatchObject({ decision: 'allow' });
    const applied = await approve(s, 'alice');
    expect(applied.body).toMatchObject({ status: 'applied', new_kid: expect.any(String) });
    await waitFor(async () => (await introspect(token)).reason === 'key_revoked', 5_000, 'key_revoked');
    const fresh = await post('/issue', GUIDE_ENVELOPE, '/issue');
    expect(kidOf(fresh.body.token as string)).toBe(applied.body.new_kid);
    expect(await introspect(fresh.body.token as string)).toMatchObject({ decision: 'allow' });
    const jwks = (await (await fetch(`${ctp.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).not.toContain(s.kid);
  });

  it('records every request, approval and application in the ledger', async () => {
    const types = async () => {
      const size = ((await get('/ledger/checkpoint')).body.size as number) ?? 0;
      const out: string[] = [];
      for (let seq = 1; seq <= size; seq++) out.push(((await get(`/ledger/entries/${seq}`, '/ledger/entries/{seq}')).body.entry as { type: string }).type);
      return out.filter((t) => t.startsWith('key.'));
    };
    await waitFor(async () => (await types()).length === 11, 10_000, 'key entries checkpointed');
    expect(await types()).toEqual([
      'key.change.requested',
      'key.change.approved',
      'key.change.applied',
      'key.change.requested',
      'key.change.approved',
      'key.revoked',
      'key.change.applied',
      'key.change.requested',
      'key.change.approved',
      'key.revoked',
      'key.change.applied',
    ]);
  });
});
