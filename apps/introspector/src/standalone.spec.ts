import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyDirectory } from '@ctp/keys';
import { allNotFound, GUIDE_ENVELOPE, postJson, spellingStatuses, startService, tsEntry, waitFor, type ServiceProcess } from '@ctp/testing';

describe('issuer and introspector as separate processes', () => {
  const keyDir = join(mkdtempSync(join(tmpdir(), 'ctp-standalone-')), 'keys');
  let issuer: ServiceProcess;
  let introspector: ServiceProcess;

  beforeAll(async () => {
    issuer = await startService(tsEntry('apps/issuer/src/main.ts'), {
      CTP_DEV_MODE: 'true',
      CTP_KEY_DIR: keyDir,
      CTP_SUBJECT_SECRET_FILE: join(keyDir, '..', 'subject.secret'),
    });
    introspector = await startService(tsEntry('apps/introspector/src/main.ts'), {
      CTP_DEV_MODE: 'true',
      CTP_JWKS_URL: `${issuer.url}/.well-known/jwks.json`,
      CTP_JWKS_COOLDOWN_MS: '200',
    });
  });
  afterAll(async () => {
    await introspector?.stop();
    await issuer?.stop();
  });

  const issue = async () => (await postJson(`${issuer.url}/issue`, GUIDE_ENVELOPE)).body.token as string;
  const introspect = async (token: string) => (await postJson(`${introspector.url}/introspect`, { token, context_envelope: GUIDE_ENVELOPE })).body;

  it('becomes ready once it holds the JWKS, and verifies issued tokens', async () => {
    await waitFor(async () => (await fetch(`${introspector.url}/readyz`)).status === 200, 10_000, 'introspector ready');
    expect(await (await fetch(`${introspector.url}/readyz`)).json()).toMatchObject({ checks: { clock: true } });
    expect(await introspect(await issue())).toMatchObject({ active: true, decision: 'allow' });
  });

  it('answers 404 to every other spelling of its paths, so none escapes the rate limit or auth', async () => {
    const body = JSON.stringify({ token: 'x', context_envelope: GUIDE_ENVELOPE });
    expect(await spellingStatuses(introspector.url, 'POST', '/introspect', {}, body)).toEqual(allNotFound('/introspect'));
    for (const path of ['/healthz', '/readyz', '/metrics']) expect(await spellingStatuses(introspector.url, 'GET', path)).toEqual(allNotFound(path));
  });

  it('refetches the JWKS when a rotated key signs a token it has not seen', async () => {
    const before = await issue();
    // A rotation started one pre-publish period ago: the new key is now due to sign.
    const keys = KeyDirectory.open(keyDir);
    keys.rotate(Math.floor(Date.now() / 1000) - keys.policy.prePublishSeconds);
    await new Promise((r) => setTimeout(r, 1100));
    const after = await issue();
    expect(await introspect(after)).toMatchObject({ decision: 'allow' });
    expect(await introspect(before)).toMatchObject({ decision: 'allow' });
  });

  it('keeps deciding from its caches when the issuer is gone: no network hop on the hot path', async () => {
    const token = await issue();
    expect((await introspect(token)).decision).toBe('allow');
    await issuer.stop();
    expect((await introspect(token)).decision).toBe('allow');
    expect((await introspect(token.replace(/.$/, token.endsWith('A') ? 'B' : 'A'))).decision).toBe('deny');
  });
});
