import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { createLogger } from '@ctp/http';
import { KeyDirectory } from '@ctp/keys';
import { generateApiKey } from '@ctp/partners';
import { allNotFound, corpusClaims, craftJws, GUIDE_ENVELOPE, OpenApiContract, postJson, spellingStatuses, waitFor } from '@ctp/testing';
import { upConfigSchema } from './config';
import { startCtp, type RunningCtp } from './up';

const contract = new OpenApiContract();
const ISSUER = 'http://127.0.0.1:8000';

async function call(ctp: RunningCtp, path: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await postJson(`${ctp.url}${path}`, body, headers);
  contract.validate('POST', path, r.status, r.contentType, r.body);
  if (path === '/issue' && r.status === 200) {
    // jose as an independent oracle: every issued token verifies against the served JWKS.
    const { payload } = await jwtVerify(r.body.token as string, createRemoteJWKSet(new URL(`${ctp.url}/.well-known/jwks.json`)), { algorithms: ['ES256'], issuer: ISSUER });
    expect(payload.jti).toBe(r.body.jti);
  }
  return r;
}

function start(env: Record<string, string>): Promise<{ ctp: RunningCtp; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ctp-up-'));
  const config = upConfigSchema.parse({ CTP_PORT: '0', CTP_DATA_DIR: dataDir, ...env });
  return startCtp(config, createLogger('test')).then((ctp) => ({ ctp, dataDir }));
}

describe('ctp up in dev mode', () => {
  let ctp: RunningCtp;
  let keys: KeyDirectory;
  let token: string;
  let jti: string;

  beforeAll(async () => {
    const started = await start({});
    ctp = started.ctp;
    keys = KeyDirectory.open(join(started.dataDir, 'keys'));
    const issued = await call(ctp, '/issue', GUIDE_ENVELOPE);
    expect(issued.status).toBe(200);
    token = issued.body.token as string;
    jti = issued.body.jti as string;
  });
  afterAll(() => ctp.close());

  const introspect = (t: string, envelope: object = GUIDE_ENVELOPE) => call(ctp, '/introspect', { token: t, context_envelope: envelope });

  const ours = () => keys.signingKey();

  it('allows the issued token for its own context', async () => {
    const r = await introspect(token);
    expect(r.body).toEqual({ active: true, decision: 'allow', reason: null, sub: expect.any(String), jti, scope: ['sentiment.read', 'tone.read'], purpose: 'customer_retention' });
  });

  it('serves the JWKS with a cache lifetime', async () => {
    const res = await fetch(`${ctp.url}/.well-known/jwks.json`);
    expect(res.headers.get('cache-control')).toBe('public, max-age=60');
    const body = await res.json();
    contract.validate('GET', '/.well-known/jwks.json', res.status, res.headers.get('content-type')!, body);
    expect((body as { keys: { kid: string }[] }).keys[0]!.kid).toBe(ours().kid);
  });

  // The JWT attack suite and every mismatch run against this service, the SDK's local validator and
  // jose from one corpus: decision_parity.spec.ts (libs/testing/src/decision_corpus.ts).

  it('denies a revoked jti whatever its letter case: revocations are normalised, tokens must use the canonical spelling', async () => {
    const upper = 'A1B2C3D4-0000-4000-8000-00000000ABCD';
    const signed = (jti: string) => craftJws({ alg: 'ES256', kid: ours().kid }, corpusClaims({ issuer: ISSUER }, { jti }), ours().privateKey);
    expect((await call(ctp, '/revoke', { jti: upper })).body).toEqual({ status: 'ok', revoked: upper.toLowerCase() });
    expect((await introspect(signed(upper.toLowerCase()))).body).toMatchObject({ decision: 'deny', reason: 'revoked' });
    expect((await introspect(signed(upper))).body).toMatchObject({ decision: 'deny', reason: 'invalid_claims' });
    expect((await introspect(signed('A1B2C3D4-0000-4000-8000-00000000ABCE'))).body).toMatchObject({ decision: 'deny', reason: 'invalid_claims' });
  });

  it('denies a token after /revoke, and revoking is idempotent', async () => {
    const issued = await call(ctp, '/issue', GUIDE_ENVELOPE);
    const t = issued.body.token as string;
    for (let i = 0; i < 2; i++) {
      const r = await call(ctp, '/revoke', { jti: issued.body.jti, reason: 'user_revoked' });
      expect(r.body).toEqual({ status: 'ok', revoked: issued.body.jti });
    }
    expect((await introspect(t)).body).toMatchObject({ decision: 'deny', reason: 'revoked', jti: issued.body.jti });
  });

  it('keeps live tokens valid across a key rotation and signs new ones with the new key', async () => {
    const before = (await call(ctp, '/issue', GUIDE_ENVELOPE)).body.token as string;
    // A rotation started one pre-publish period ago: the new key is now due to sign.
    const kid = keys.rotate(Math.floor(Date.now() / 1000) - keys.policy.prePublishSeconds);
    await new Promise((r) => setTimeout(r, 1100));
    const after = (await call(ctp, '/issue', GUIDE_ENVELOPE)).body.token as string;
    expect(JSON.parse(Buffer.from(after.split('.')[0]!, 'base64url').toString()).kid).toBe(kid);
    expect((await introspect(before)).body.decision).toBe('allow');
    expect((await introspect(after)).body.decision).toBe('allow');
  });

  describe('bad input never gets a 500 and names the field and rule', () => {
    const cases: [string, string, string | Buffer, Record<string, string>, number, string, string | undefined][] = [
      ['malformed JSON', '/issue', '{"ts":', {}, 400, 'invalid_json', undefined],
      ['a JSON array', '/issue', '[1,2]', {}, 400, 'validation_failed', '(body)'],
      ['a wrong type', '/issue', JSON.stringify({ ...GUIDE_ENVELOPE, features: 'tone' }), {}, 400, 'validation_failed', 'features'],
      ['a missing field', '/introspect', JSON.stringify({ context_envelope: GUIDE_ENVELOPE }), {}, 400, 'validation_failed', 'token'],
      ['an unknown field', '/issue', JSON.stringify({ ...GUIDE_ENVELOPE, purpouse: 'x' }), {}, 400, 'validation_failed', 'purpouse'],
      ['a nested wrong type', '/introspect', JSON.stringify({ token: 't', context_envelope: { ...GUIDE_ENVELOPE, jurisdiction: 7 } }), {}, 400, 'validation_failed', 'context_envelope.jurisdiction'],
      ['a body over 16 KiB', '/issue', JSON.stringify({ ...GUIDE_ENVELOPE, ui_copy_id: 'x'.repeat(17_000) }), {}, 413, 'body_too_large', undefined],
      ['non-UTF-8 bytes', '/revoke', Buffer.concat([Buffer.from('{"jti":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]), {}, 400, 'invalid_encoding', undefined],
      ['a huge array', '/issue', JSON.stringify({ ...GUIDE_ENVELOPE, features: Array.from({ length: 3000 }, () => 'a') }), {}, 400, 'validation_failed', 'features'],
      ['a __proto__ key', '/issue', `{"__proto__":{"polluted":1},${JSON.stringify(GUIDE_ENVELOPE).slice(1)}`, {}, 400, 'validation_failed', '__proto__'],
      ['a nested __proto__ key', '/introspect', `{"token":"t","context_envelope":{"__proto__":{"x":1}}}`, {}, 400, 'validation_failed', '__proto__'],
      ['a non-JSON content type', '/revoke', '{}', { 'content-type': 'text/plain' }, 415, 'unsupported_media_type', undefined],
      ['a non-UUID jti', '/revoke', '{"jti":"../../etc"}', {}, 400, 'validation_failed', 'jti'],
      ['a non-string token', '/introspect', JSON.stringify({ token: 42, context_envelope: GUIDE_ENVELOPE }), {}, 400, 'validation_failed', 'token'],
    ];

    it.each(cases)('%s', async (_name, path, body, headers, status, code, field) => {
      const res = await fetch(`${ctp.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      const problem = (await res.json()) as { errors?: unknown[] };
      contract.validate('POST', path, res.status, res.headers.get('content-type')!, problem);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(problem).toMatchObject({ status, code, type: `urn:ctp:problem:${code}` });
      if (field) expect(problem.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field, rule: expect.any(String) })]));
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('answers wrong methods and unknown paths with problems, and is still healthy', async () => {
      const wrong = await fetch(`${ctp.url}/issue`);
      expect(wrong.status).toBe(405);
      expect(wrong.headers.get('allow')).toBe('POST');
      expect((await fetch(`${ctp.url}/nope`)).status).toBe(404);
      const health = await fetch(`${ctp.url}/healthz`);
      contract.validate('GET', '/healthz', health.status, health.headers.get('content-type')!, await health.json());
      const ready = await fetch(`${ctp.url}/readyz`);
      contract.validate('GET', '/readyz', ready.status, ready.headers.get('content-type')!, await ready.json());
    });
  });
});

describe('ctp up with partners (dev mode off)', () => {
  const acme = generateApiKey('acme');
  const auditor = generateApiKey('audit-firm');
  const limited = generateApiKey('limited');
  let ctp: RunningCtp;
  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ctp-partners-')), 'partners.json');
    writeFileSync(
      file,
      JSON.stringify({
        partners: [
          { id: 'acme', name: 'Acme', api_key_hashes: [acme.hash], processors: ['svc://cx-ai/v1'], policy_uri: 'https://acme.example/policy' },
          {
            id: 'limited',
            name: 'Limited',
            api_key_hashes: [limited.hash],
            processors: ['*'],
            policy_uri: 'https://limited.example/policy',
            rate_limits: { issue: '1/60s', introspect: '1/60s', revoke: '1/60s' },
          },
        ],
        auditors: [{ id: 'audit-firm', name: 'Audit Firm', api_key_hashes: [auditor.hash] }],
      }),
    );
    ctp = (await start({ CTP_DEV_MODE: 'false', CTP_PARTNERS_FILE: file })).ctp;
  });
  afterAll(() => ctp.close());
  const auth = { authorization: `Bearer ${acme.apiKey}` };

  it('answers 404 to every other spelling of every documented path, with or without a credential: none escapes a rate limit or auth', async () => {
    const limitedAuth = { authorization: `Bearer ${limited.apiKey}` };
    const bodies: Record<string, unknown> = {
      '/issue': GUIDE_ENVELOPE,
      '/introspect': { token: 't', context_envelope: GUIDE_ENVELOPE },
      '/revoke': { jti: 'c0b3e1f8-4567-4890-abcd-1234567890ab' },
    };
    for (const [path, body] of Object.entries(bodies)) {
      expect((await call(ctp, path, body, limitedAuth)).status).toBe(200);
      expect((await call(ctp, path, body, limitedAuth)).status).toBe(429);
    }
    const operations = contract.operations().filter((op) => op.path !== '/revocations/ws');
    expect(operations.length).toBeGreaterThan(20);
    for (const { method, path: template } of operations) {
      const path = template.replace('{seq}', '1').replace('{id}', 'change-0001');
      const body = bodies[path] === undefined ? (method === 'POST' ? '{}' : undefined) : JSON.stringify(bodies[path]);
      for (const headers of [limitedAuth, {}]) expect([method, await spellingStatuses(ctp.url, method, path, headers, body, template)]).toEqual([method, allNotFound(path, template)]);
    }
  });

  it('requires a partner credential on every consent endpoint', async () => {
    for (const [path, body] of [
      ['/issue', GUIDE_ENVELOPE],
      ['/introspect', { token: 't', context_envelope: GUIDE_ENVELOPE }],
      ['/revoke', { jti: 'c0b3e1f8-4567-4890-abcd-1234567890ab' }],
    ] as const) {
      const r = await call(ctp, path, body);
      expect(r).toMatchObject({ status: 401, body: { code: 'unauthenticated' } });
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="ctp"');
    }
  });

  it('issues for configured processors only, with the partner policy URI', async () => {
    const ok = await call(ctp, '/issue', GUIDE_ENVELOPE, auth);
    expect(ok.status).toBe(200);
    expect(JSON.parse(Buffer.from((ok.body.token as string).split('.')[1]!, 'base64url').toString()).policy_uri).toBe('https://acme.example/policy');
    const denied = await call(ctp, '/issue', { ...GUIDE_ENVELOPE, processor: 'svc://other/v1' }, auth);
    expect(denied).toMatchObject({ status: 403, body: { code: 'processor_not_allowed', errors: [{ field: 'processor' }] } });
    expect((await call(ctp, '/introspect', { token: ok.body.token, context_envelope: GUIDE_ENVELOPE }, auth)).body.decision).toBe('allow');
  });

  it('rejects the shell-mangled body outside dev mode with a hint', async () => {
    const r = await call(ctp, '/revoke', '{ jti: c0b3e1f8-4567-4890-abcd-1234567890ab }', auth);
    expect(r).toMatchObject({ status: 400, body: { code: 'invalid_json' } });
    expect(r.body.detail).toMatch(/single quotes or use a heredoc/);
  });

  it('keeps the ledger (jtis, proofs, anchors, packs) to auditors, by every spelling of each path', async () => {
    const issued = await call(ctp, '/issue', GUIDE_ENVELOPE, auth);
    const jti = issued.body.jti as string;
    const get = async (path: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${ctp.url}${path}`, { headers });
      return { status: res.status, type: res.headers.get('content-type') ?? '', body: res.headers.get('content-type')?.includes('json') ? await res.json() : await res.arrayBuffer(), auth: res.headers.get('www-authenticate') };
    };
    // Proofs and packs need a signed checkpoint: the first comes within the checkpoint interval.
    await waitFor(async () => (await get('/ledger/checkpoint')).status === 200, 10_000, 'the first signed checkpoint');
    const protectedPaths: [string, string][] = [
      [`/ledger/entries?jti=${jti}`, '/ledger/entries'],
      ['/ledger/entries/1', '/ledger/entries/{seq}'],
      ['/ledger/proofs/inclusion?seq=1', '/ledger/proofs/inclusion'],
      ['/ledger/proofs/consistency?first=1', '/ledger/proofs/consistency'],
      ['/ledger/anchors', '/ledger/anchors'],
      ['/ledger/export?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z', '/ledger/export'],
    ];
    for (const [path, template] of protectedPaths) {
      const [pathname, query = ''] = path.split('?');
      for (const headers of [{}, auth, { authorization: 'Bearer audit-firm.wrong' }]) {
        const r = await get(path, headers);
        expect([path, r.status, (r.body as { code?: string }).code, r.auth]).toEqual([path, 401, 'unauthenticated', 'Bearer realm="ctp"']);
        contract.validate('GET', template, r.status, r.type, r.body);
      }
      // Routing is strict: another spelling names no resource, not even with the auditor's key.
      for (const spelling of [`${pathname}/`, pathname!.toUpperCase(), pathname!.replace('/ledger', '/Ledger')]) {
        for (const headers of [{}, auth, { authorization: `Bearer ${auditor.apiKey}` }]) {
          const r = await get(`${spelling}${query ? `?${query}` : ''}`, headers);
          expect([spelling, r.status, (r.body as { code?: string }).code]).toEqual([spelling, 404, 'not_found']);
        }
      }
      const ok = await get(path, { authorization: `Bearer ${auditor.apiKey}` });
      expect([path, ok.status]).toEqual([path, 200]);
    }
    // The signed head and the verifier keys stay public: witnesses and auditors need them first.
    expect((await get('/ledger/verifiers')).status).toBe(200);
    expect((await get('/ledger/checkpoint')).status).toBe(200);
  });
});
