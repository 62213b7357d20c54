import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateOperatorKey, signStatement } from '@ctp/keys';
import { type ApprovalStatement } from '@ctp/keys/internal';
import { GUIDE_ENVELOPE, postJson, startService, tsEntry, waitFor, type ServiceProcess } from '@ctp/testing';

/**
 * Emergency key revocation across separate processes and the real NATS JetStream:
 * two operators approve on the issuer, the introspector (whose JWKS cache still
 * holds the key) denies the key's tokens as soon as the push arrives.
 */
describe('emergency key revocation, issuer and introspector as separate processes', () => {
  const root = mkdtempSync(join(tmpdir(), 'ctp-keyrevoke-'));
  const keyDir = join(root, 'keys');
  const operators = { alice: generateOperatorKey('alice'), bob: generateOperatorKey('bob'), mallory: generateOperatorKey('mallory') };
  const operatorsFile = join(root, 'operators.json');
  writeFileSync(operatorsFile, JSON.stringify({ operators: [operators.alice.entry, operators.bob.entry] }));
  const sign = (s: ApprovalStatement, as: keyof typeof operators) => signStatement(s, createPrivateKey(operators[as].privateKeyPem));
  let issuer: ServiceProcess;
  let introspector: ServiceProcess;

  beforeAll(async () => {
    issuer = await startService(tsEntry('apps/issuer/src/main.ts'), {
      CTP_DEV_MODE: 'true',
      CTP_KEY_DIR: keyDir,
      CTP_SUBJECT_SECRET_FILE: join(root, 'subject.secret'),
      CTP_OPERATORS_FILE: operatorsFile,
    });
    introspector = await startService(tsEntry('apps/introspector/src/main.ts'), {
      CTP_DEV_MODE: 'true',
      CTP_JWKS_URL: `${issuer.url}/.well-known/jwks.json`,
      CTP_JWKS_COOLDOWN_MS: '200',
    });
    await waitFor(async () => (await fetch(`${introspector.url}/readyz`)).status === 200, 10_000, 'introspector ready');
  });
  afterAll(async () => {
    await introspector?.stop();
    await issuer?.stop();
  });

  const issue = async () => (await postJson(`${issuer.url}/issue`, GUIDE_ENVELOPE)).body.token as string;
  const introspect = async (token: string) => (await postJson(`${introspector.url}/introspect`, { token, context_envelope: GUIDE_ENVELOPE })).body;
  const kidOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid as string;

  it('takes effect only with two distinct operators, then denies the key at once and keeps issuing with a new key', async () => {
    const token = await issue();
    const kid = kidOf(token);
    expect(await introspect(token)).toMatchObject({ decision: 'allow' });

    const s = { change_id: `kc-revoke-${process.pid}-${Date.now()}`, action: 'revoke' as const, kid, operator: 'alice', expires_at: Math.floor(Date.now() / 1000) + 600 };
    const body = (op: keyof typeof operators, signer: keyof typeof operators = op) => ({ operator: op, signature: sign({ ...s, operator: op }, signer) });
    const propose = await postJson(`${issuer.url}/admin/keys/changes`, { id: s.change_id, action: s.action, kid, expires_at: s.expires_at, ...body('alice') });
    expect(propose.status).toBe(201);
    expect(propose.body).toMatchObject({ status: 'open', approvals: [{ operator: 'alice' }], required_approvals: 2 });

    const approvals = `${issuer.url}/admin/keys/changes/${s.change_id}/approvals`;
    expect((await postJson(approvals, body('alice'))).body).toMatchObject({ status: 409, code: 'approval_duplicate' });
    expect((await postJson(approvals, body('mallory'))).body).toMatchObject({ status: 403, code: 'operator_unknown' });
    expect((await postJson(approvals, body('bob', 'alice'))).body).toMatchObject({ status: 401, code: 'approval_signature_invalid' });
    // still one approval: the key is untouched
    expect(await introspect(token)).toMatchObject({ decision: 'allow' });
    expect(((await (await fetch(`${issuer.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid)).toContain(kid);

    const applied = await postJson(approvals, body('bob'));
    expect(applied.status).toBe(200);
    expect(applied.body).toMatchObject({ status: 'applied', new_kid: expect.any(String), approvals: [{ operator: 'alice' }, { operator: 'bob' }] });
    const jwks = (await (await fetch(`${issuer.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual([applied.body.new_kid]);

    // The introspector still caches the key (its JWKS refresh is 60 s away); the push denies it.
    await waitFor(async () => (await introspect(token)).reason === 'key_revoked', 5_000, 'key_revoked pushed to the introspector');
    expect(await introspect(token)).toEqual({ active: false, decision: 'deny', reason: 'key_revoked', sub: null, jti: null, scope: null, purpose: null });

    const fresh = await issue();
    expect(kidOf(fresh)).toBe(applied.body.new_kid);
    expect(await introspect(fresh)).toMatchObject({ decision: 'allow' });
    expect((await postJson(approvals, body('bob'))).body).toMatchObject({ status: 409, code: 'key_change_conflict' });
  });
});
