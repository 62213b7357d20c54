import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { KeyRing, RedisNonceStore } from '@ctp/guard';
import { baseUrl, createLogger, listen, type Server } from '@ctp/http';
import { generateApiKey, generateSigningKey, loadSigningKeys, type SigningKeyAlg } from '@ctp/partners';
import { consentEnvelope, createLocalValidator, CtpClient, signedRequest, signingKeyThumbprint, type LocalValidator, type RequestSigningKey } from '@ctp/sdk';
import { freePort, makeTestCertificate, REDIS_URL, startService, waitFor, type ServiceProcess } from '@ctp/testing';
import { createProcessorApp, ENVELOPE, FEATURES, PURPOSE } from './app';
import { fetchReceiptEvidence, verifyReceiptEvidence, type ReceiptEvidence } from './evidence';
import { processorParts, type ProcessorParts } from './parts';

/**
 * End to end: `ctp up` (its own process, dev mode), the demo processor terminating TLS 1.3 with its guard
 * (nonces in the real Redis), and a partner calling it with the SDK's signedRequest (401 -> sign -> retry,
 * channel-bound), with a token issued bound to its signing key, then revoked. The guard runs with the real
 * assurance parts: the Cedar shields of policy/, the hysteresis breaker, SQLite receipts forwarded to the ledger.
 */
describe('demo processor svc://cx-ai/v1 behind the guard, against ctp up', () => {
  let ctp: ServiceProcess;
  let validator: LocalValidator;
  let client: CtpClient;
  let redis: Redis;
  let server: Server;
  let url: string;
  let ctpUrl: string;
  let parts: ProcessorParts;
  const cert = makeTestCertificate();
  const dir = mkdtempSync(join(tmpdir(), 'ctp-processor-'));
  const registered = (alg: SigningKeyAlg): RequestSigningKey => {
    const { privateKeyPem, entry } = generateSigningKey('demo', alg);
    keyEntries.push(entry);
    return { keyid: entry.kid, alg, privateKey: createPrivateKey(privateKeyPem) };
  };
  const keyEntries: ReturnType<typeof generateSigningKey>['entry'][] = [];
  const es256 = registered('ES256');
  const ed25519 = registered('Ed25519');
  const mldsa = registered('ML-DSA-65');

  beforeAll(async () => {
    const port = await freePort();
    ctpUrl = `http://127.0.0.1:${port}`;
    ctp = await startService(['apps/ctp/bin/ctp.js', 'up'], { CTP_PORT: String(port), CTP_ISSUER: ctpUrl, CTP_DATA_DIR: join(dir, 'ctp') }, { readyTimeoutMs: 60_000 });
    client = new CtpClient({ baseUrl: ctpUrl });
    validator = createLocalValidator({ baseUrl: ctpUrl, pushIdleMs: 5_000 });
    await validator.ready(15_000);
    redis = new Redis(REDIS_URL);
    // The processor's partners file: the calling partner with its registered signing keys.
    const partnersFile = join(dir, 'partners.json');
    const partner = { id: 'demo', name: 'Demo', api_key_hashes: [generateApiKey('demo').hash], processors: ['svc://cx-ai/v1'], policy_uri: 'https://partner.example/policy', signing_keys: keyEntries };
    writeFileSync(partnersFile, JSON.stringify({ partners: [partner] }));
    const logger = createLogger('demo-processor');
    parts = processorParts({ ctpUrl, policyDir: join(__dirname, '../../../policy'), receiptsPath: join(dir, 'receipts.db'), forwardIntervalMs: 200, logger });
    parts.forwarder.start();
    const app = createProcessorApp({ keys: new KeyRing(loadSigningKeys(partnersFile)), nonces: new RedisNonceStore(redis, 'test:processor:nonce:'), validator, ...parts.guard, logger });
    server = await listen(app, 0, '127.0.0.1', { tls: { cert: cert.cert, key: cert.key } });
    url = `${baseUrl(server)}/v1/analyse`;
  }, 90_000);

  afterAll(async () => {
    server?.closeAllConnections();
    server?.close();
    await validator?.close();
    await parts?.close();
    redis?.disconnect();
    await ctp?.stop();
  });

  const issued = async (key?: RequestSigningKey) =>
    await client.issue(consentEnvelope({ ...ENVELOPE, purpose: PURPOSE, features: [...FEATURES], ts: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }), key ? { keyBindingJkt: await signingKeyThumbprint(key) } : {});
  const issue = async (key?: RequestSigningKey) => (await issued(key)).token;
  const call = (key: RequestSigningKey, consentToken: string, text = 'Thanks, the refund is resolved, great!', target = url, pqKey?: RequestSigningKey) =>
    signedRequest(target, { method: 'POST', body: JSON.stringify({ text }), headers: { 'content-type': 'application/json' } }, { key, consentToken, pqKey, tls: { ca: cert.cert } });
  const parsed = (res: { status: number; body: Buffer }) => [res.status, JSON.parse(res.body.toString()) as Record<string, unknown>] as const;

  it('serves a signed, channel-bound request with a key-bound consent token', async () => {
    const token = await issue(es256);
    const [status, body] = parsed(await call(es256, token));
    expect(status).toBe(200);
    expect(body).toMatchObject({ tone: 'calm', partner: 'demo', algs: ['ES256'], jti: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(body.sentiment as number).toBeGreaterThan(0);
  });

  it('challenges an unsigned request, and blocks the bound token signed with another registered key', async () => {
    const challenge = await signedRequest(url, { method: 'POST', body: '{}' }, { key: { ...es256, keyid: 'unregistered' }, consentToken: 'x', tls: { ca: cert.cert } });
    expect(challenge.status).toBe(401);
    expect(challenge.headers['accept-signature']).toMatch(/"ctp-channel-binding"\);created;expires;keyid;nonce="/);
    const token = await issue(es256);
    const [status, body] = parsed(await call(ed25519, token));
    expect([status, body.code]).toEqual([403, 'key_binding_mismatch']);
  });

  it('refuses a revoked token once the revocation reaches the processor', async () => {
    const { token, jti } = await issued(ed25519);
    expect((await call(ed25519, token)).status).toBe(200);
    await client.revoke(jti);
    await waitFor(async () => (await call(ed25519, token)).status === 403, 10_000, 'the revocation to reach the processor');
    const [status, body] = parsed(await call(ed25519, token));
    expect([status, body.code]).toEqual([403, 'revoked']);
  });

  it('records every decision as a receipt that reaches the ledger with an inclusion proof verifying under the ledger key', async () => {
    const token = await issue(es256);
    const res = await call(es256, token);
    expect(res.status).toBe(200);
    const id = String(res.headers['receipt-id']);
    expect(parts.receipts.get(id)?.receipt).toMatchObject({ decision: 'allow', method: 'POST', path: '/v1/analyse', algs: ['ES256'], breaker_state: 'closed', policy_hash: parts.shield.hash });
    const { keys } = (await (await fetch(`${ctpUrl}/ledger/verifiers`)).json()) as { keys: { vkey: string }[] };
    let evidence: ReceiptEvidence | null = null;
    await waitFor(async () => (evidence = await fetchReceiptEvidence(ctpUrl, id)) !== null, 20_000, 'the receipt under a signed checkpoint');
    expect(evidence!.receipt).toEqual(parts.receipts.get(id)!.receipt);
    expect(verifyReceiptEvidence(evidence!, keys.map((k) => k.vkey))).toBe(true);
    expect(verifyReceiptEvidence({ ...evidence!, ledger: { ...evidence!.ledger, leaf_hash: Buffer.alloc(32).toString('base64') } }, keys.map((k) => k.vkey))).toBe(false);
  });

  it('requires the hybrid ML-DSA-65 signature under /v1/pqc/ (policy binding.pqc-hybrid) and records both algorithms', async () => {
    const pqc = `${baseUrl(server)}/v1/pqc/analyse`;
    const token = await issue(es256);
    const classicalOnly = parsed(await call(es256, token, 'hello', pqc));
    expect([classicalOnly[0], classicalOnly[1].code]).toEqual([401, 'hybrid_signature_required']);
    const hybrid = await call(es256, token, 'hello', pqc, mldsa);
    expect(hybrid.status).toBe(200);
    expect(parts.receipts.get(String(hybrid.headers['receipt-id']))?.receipt.algs).toEqual(['ES256', 'ML-DSA-65']);
  });

  it('routes strictly: other spellings of the route are 404, and the route does not run unguarded', async () => {
    const token = await issue();
    for (const path of ['/v1/analyse/', '/V1/analyse']) {
      const res = await signedRequest(`${baseUrl(server)}${path}`, { method: 'POST', body: '{}' }, { key: ed25519, consentToken: token, tls: { ca: cert.cert } });
      expect(res.status).toBe(404);
    }
  });
});
