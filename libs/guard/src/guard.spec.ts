import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import express from 'express';
import { Redis } from 'ioredis';
import { consentEnvelope, contentDigestOf, createLocalValidator, CtpClient, signatureHeaders, signedRequest, signingKeyThumbprint, type LocalValidator, type RequestSigningKey } from '@ctp/sdk';
import { freePort, makeTestCertificate, REDIS_URL, startService, type ServiceProcess } from '@ctp/testing';
import type { GuardBreaker, PolicyShield, ReceiptInput, ReceiptSink, ShieldDecision } from './contracts';
import { guard, RECEIPT_ID_HEADER, type GuardedRequest, type GuardOptions } from './guard';
import { KeyRing } from './keys';
import { RedisNonceStore } from './nonce_store';

const PURPOSE = 'customer_retention';
const FEATURES = ['tone', 'sentiment'];
const CONTEXT = { channel: 'voice', processor: 'svc://cx-ai/v1', retention: 'session_only', jurisdiction: 'US-KY', ui_copy_id: 'consent-modal-2025-11-01#en-US' } as const;

function signingKey(keyid: string, alg: RequestSigningKey['alg']): RequestSigningKey & { publicKey: KeyObject } {
  const type = alg === 'ES256' ? 'ec' : alg === 'Ed25519' ? 'ed25519' : 'ml-dsa-65';
  const pair = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync(type as 'ed25519');
  return { keyid, alg, privateKey: pair.privateKey, publicKey: pair.publicKey };
}
const jwkOf = (key: ReturnType<typeof signingKey>) => ({ ...(key.publicKey.export({ format: 'jwk' }) as object), alg: key.alg });

/** Receipts as the ReceiptSink contract asks (the SQLite sink is another module's): ids in order, inputs kept. */
class ListSink implements ReceiptSink {
  readonly receipts: (ReceiptInput & { id: string })[] = [];
  record(input: ReceiptInput): string {
    const id = `r-${this.receipts.length + 1}`;
    this.receipts.push({ ...input, id });
    return id;
  }
}

const shieldRequiring = (require: Partial<ShieldDecision>): PolicyShield => ({
  decide: () => ({ requireChannelBinding: false, requireKeyBinding: false, requireHybrid: false, whenOpen: 'fail_closed', policyId: 'test-policy', policyHash: '0'.repeat(64), ...require }),
});

describe('guard middleware (against ctp up, nonces in Redis)', () => {
  let ctp: ServiceProcess;
  let client: CtpClient;
  let validator: LocalValidator;
  let redis: Redis;
  const es256 = signingKey('demo-es256', 'ES256');
  const es256b = signingKey('demo-es256-b', 'ES256');
  const ed25519 = signingKey('demo-ed25519', 'Ed25519');
  const mldsa = signingKey('demo-mldsa', 'ML-DSA-65');
  const keys = new KeyRing([es256, es256b, ed25519, mldsa].map((k) => ({ partnerId: 'demo', kid: k.keyid, jwk: jwkOf(k) as never })));
  const servers: (Server | HttpsServer)[] = [];
  const cert = makeTestCertificate();
  let token: string;

  beforeAll(async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    ctp = await startService(['apps/ctp/bin/ctp.js', 'up'], { CTP_PORT: String(port), CTP_ISSUER: url, CTP_DATA_DIR: mkdtempSync(join(tmpdir(), 'ctp-guard-')) }, { readyTimeoutMs: 60_000 });
    client = new CtpClient({ baseUrl: url });
    validator = createLocalValidator({ baseUrl: url });
    await validator.ready(15_000);
    redis = new Redis(REDIS_URL);
    token = (await client.issue(envelope())).token;
  }, 90_000);

  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
    await validator?.close();
    redis?.disconnect();
    await ctp?.stop();
  });

  function envelope(purpose = PURPOSE) {
    return consentEnvelope({ ...CONTEXT, purpose, features: [...FEATURES], ts: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
  }

  async function start(options: Partial<GuardOptions> = {}, tls = false): Promise<string> {
    const app = express();
    app.set('strict routing', true);
    app.set('case sensitive routing', true);
    app.post('/v1/summarize', guard({ keys, nonces: new RedisNonceStore(redis), consent: { purpose: PURPOSE, features: FEATURES, envelope: CONTEXT }, validator, ...options }), (req: GuardedRequest, res) => {
      res.json({ partner: req.guard!.partnerId, algs: req.guard!.algs, bytes: req.guard!.rawBody.length });
    });
    const server = tls ? createHttpsServer({ cert: cert.cert, key: cert.key, minVersion: 'TLSv1.3' }, app) : app.listen(0, '127.0.0.1');
    if (tls) server.listen(0, '127.0.0.1');
    await new Promise((r) => (server.listening ? r(undefined) : server.once('listening', r)));
    servers.push(server);
    return `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as { port: number }).port}/v1/summarize`;
  }

  /** A fresh challenge nonce from the guard at `url`. */
  async function nonceFrom(url: string): Promise<string> {
    const res = await fetch(url, { method: 'POST', body: '{}' });
    expect(res.status).toBe(401);
    return /nonce="([^"]+)"/.exec(res.headers.get('accept-signature')!)![1]!;
  }

  /** A signed request built by hand (plain HTTP), so each test can break exactly one thing. */
  async function handSigned(url: string, o: { nonce?: string; created?: number; expires?: number; components?: string[]; key?: RequestSigningKey; body?: string; token?: string; sentBody?: string; extraHeaders?: Record<string, string> } = {}) {
    const body = o.body ?? '{"text":"hello"}';
    const headers: Record<string, string> = { 'content-type': 'application/json', 'ctp-consent-token': o.token ?? token, 'content-digest': contentDigestOf(Buffer.from(body)) };
    const values: Record<string, string> = { '@method': 'POST', '@target-uri': url, ...headers };
    const components = (o.components ?? ['@method', '@target-uri', 'content-digest', 'ctp-consent-token']).map((c) => [c, values[c] ?? ''] as [string, string]);
    const created = o.created ?? Math.floor(Date.now() / 1000);
    const nonce = o.nonce ?? (await nonceFrom(url));
    const sig = signatureHeaders(components, [{ label: 'ctp', key: o.key ?? es256 }], { created, expires: o.expires ?? created + 30, nonce });
    const all = { ...headers, 'signature-input': sig['Signature-Input'], signature: sig.Signature, ...o.extraHeaders };
    const res = await fetch(url, { method: 'POST', headers: all, body: o.sentBody ?? body });
    return { res, problem: res.headers.get('content-type')?.includes('problem') ? ((await res.json()) as { code: string; detail: string }) : undefined, headers: all, body: o.sentBody ?? body };
  }

  it('answers an unsigned request 401 signature_required with one fresh nonce in WWW-Authenticate and Accept-Signature', async () => {
    const url = await start();
    const res = await fetch(url, { method: 'POST', body: '{}' });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: string }).code).toBe('signature_required');
    const nonce = /nonce="([A-Za-z0-9_-]{43})"/.exec(res.headers.get('www-authenticate')!)![1];
    expect(res.headers.get('www-authenticate')).toMatch(/^Signature realm="ctp-guard", nonce="/);
    expect(res.headers.get('accept-signature')).toBe(`ctp=("@method" "@target-uri" "content-digest" "ctp-consent-token");created;expires;keyid;nonce="${nonce}"`);
    expect(await nonceFrom(url)).not.toBe(nonce);
  });

  it('stores nothing for a challenge: a flood of unsigned requests leaves the nonce store as it was', async () => {
    const url = await start();
    const count = async () => (await redis.keys('ctp:guard:nonce:*')).length;
    const before = await count();
    for (let i = 0; i < 100; i += 20) await Promise.all(Array.from({ length: 20 }, () => nonceFrom(url)));
    expect(await count()).toBe(before);
    // A forged nonce (right shape, wrong tag) is refused before anything is stored.
    const nonce = await nonceFrom(url);
    const forged = await handSigned(url, { nonce: `${nonce.slice(0, 30)}${nonce[30] === 'A' ? 'B' : 'A'}${nonce.slice(31)}` });
    expect([forged.res.status, forged.problem?.code]).toEqual([401, 'nonce_invalid']);
    expect(await count()).toBe(before);
  });

  it('lets a request signed with a registered ES256 or Ed25519 key through (SDK 401 -> sign -> retry), with a receipt id', async () => {
    const receipts = new ListSink();
    const url = await start({ receipts });
    for (const key of [es256, ed25519]) {
      const res = await signedRequest(url, { method: 'POST', body: '{"text":"hello"}', headers: { 'content-type': 'application/json' } }, { key, consentToken: token });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body.toString())).toEqual({ partner: 'demo', algs: [key.alg], bytes: 16 });
      expect(res.headers[RECEIPT_ID_HEADER.toLowerCase()]).toBe(receipts.receipts.at(-1)!.id);
    }
    const receipt = receipts.receipts.at(-1)!;
    expect(receipt).toMatchObject({ decision: 'allow', method: 'POST', path: '/v1/summarize', algs: ['Ed25519'], breakerState: 'closed', policyId: 'builtin:require-nothing' });
    expect(receipt.contentDigest).toBe(contentDigestOf(Buffer.from('{"text":"hello"}')));
    expect(JSON.stringify(receipts.receipts)).not.toContain(token);
  });

  it('refuses a replayed request (nonce used) and a reordered one (signed before its challenge)', async () => {
    const url = await start();
    const first = await handSigned(url);
    expect(first.res.status).toBe(200);
    const replay = await fetch(url, { method: 'POST', headers: first.headers, body: first.body });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { code: string }).code).toBe('nonce_invalid');
    expect(replay.headers.get('accept-signature')).toMatch(/nonce="/);
    const early = await handSigned(url, { created: Math.floor(Date.now() / 1000) - 30 });
    expect([early.res.status, early.problem?.code, early.problem?.detail]).toEqual([401, 'nonce_invalid', 'the signature was created before its challenge']);
    const invented = await handSigned(url, { nonce: 'AAAAAAAAAAAAAAAAAAAAAA' });
    expect(invented.problem?.code).toBe('nonce_invalid');
  });

  it('keeps nonces single-use across guard replicas sharing a nonce secret (one Redis, SET NX)', async () => {
    const nonceSecret = randomBytes(32);
    const [a, b] = [await start({ nonceSecret }), await start({ nonceSecret })];
    // A challenge from one replica is answered to the other...
    const nonce = await nonceFrom(a);
    const onB = await handSigned(b, { nonce });
    expect(onB.res.status).toBe(200);
    // ...and once used on one, it is used on both.
    const replay = await fetch(b, { method: 'POST', headers: onB.headers, body: onB.body });
    expect([replay.status, ((await replay.json()) as { code: string }).code]).toEqual([401, 'nonce_invalid']);
    expect((await handSigned(a, { nonce })).problem?.code).toBe('nonce_invalid');
    // A replica with another secret does not accept the nonces of these.
    expect((await handSigned(await start(), { nonce: await nonceFrom(a) })).problem?.code).toBe('nonce_invalid');
  });

  it.each([
    ['a changed body', { sentBody: '{"text":"HELLO"}' }, 400, 'content_digest_mismatch'],
    ['a component left out', { components: ['@method', '@target-uri', 'content-digest'] }, 401, 'signature_invalid'],
    ['a signature older than the maximum age', { created: Math.floor(Date.now() / 1000) - 120, expires: Math.floor(Date.now() / 1000) - 100 }, 401, 'signature_invalid'],
    ['expires - created beyond the maximum age', { expires: Math.floor(Date.now() / 1000) + 600 }, 401, 'signature_invalid'],
    ['a created time in the future', { created: Math.floor(Date.now() / 1000) + 120 }, 401, 'signature_invalid'],
    ['an unregistered key', { key: { ...signingKey('stranger', 'ES256') } }, 401, 'signature_invalid'],
    ['a registered keyid signed by another key', { key: { ...es256b, keyid: es256.keyid } }, 401, 'signature_invalid'],
    ['an ML-DSA-65 key as the classical signature', { key: mldsa }, 401, 'signature_invalid'],
    ['a second label', { extraHeaders: { 'signature-input': 'other=("@method");created=1;expires=2;nonce="x";keyid="demo-es256"', signature: 'other=:AAAA:' } }, 401, 'signature_invalid'],
  ] as const)('refuses %s', async (_what, change, status, code) => {
    const url = await start();
    const { res, problem } = await handSigned(url, change as never);
    expect([res.status, problem?.code]).toEqual([status, code]);
  });

  it('refuses a signature whose alg parameter is not the registered key algorithm (pinned by key)', async () => {
    const url = await start();
    const nonce = await nonceFrom(url);
    const body = '{}';
    const headers: Record<string, string> = { 'ctp-consent-token': token, 'content-digest': contentDigestOf(Buffer.from(body)) };
    const components: [string, string][] = [['@method', 'POST'], ['@target-uri', url], ['content-digest', headers['content-digest']!], ['ctp-consent-token', token]];
    const created = Math.floor(Date.now() / 1000);
    const sig = signatureHeaders(components, [{ label: 'ctp', key: es256 }], { created, expires: created + 30, nonce, alg: 'ed25519' });
    const res = await fetch(url, { method: 'POST', headers: { ...headers, 'signature-input': sig['Signature-Input'], signature: sig.Signature }, body });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/Unsupported key algorithm/);
  });

  it('refuses to run after a body parser consumed the body (a configuration error, not a hang)', async () => {
    const app = express();
    const errors: string[] = [];
    app.post('/v1/summarize', express.json(), guard({ keys, nonces: new RedisNonceStore(redis), consent: { purpose: PURPOSE, features: FEATURES, envelope: CONTEXT }, validator }), (_req, res) => void res.json({}));
    app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      errors.push(error.message);
      res.status(500).end();
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    servers.push(server);
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1/summarize`;
    const { res } = await handSigned(url);
    expect(res.status).toBe(500);
    expect(errors).toEqual(['the request body was read before the guard: mount guard() before any body parser']);
  });

  it('answers a consent deny as requireConsent does, with a deny receipt', async () => {
    const receipts = new ListSink();
    const url = await start({ receipts });
    const other = (await client.issue(envelope('fraud_prevention'))).token;
    const { res, problem } = await handSigned(url, { token: other });
    expect([res.status, problem?.code]).toEqual([403, 'purpose_mismatch']);
    expect(receipts.receipts.at(-1)).toMatchObject({ decision: 'deny', reason: 'purpose_mismatch' });
  });

  it('applies the policy shield: a route that requires the hybrid signature refuses ES256 alone, accepts ES256 + ML-DSA-65', async () => {
    const receipts = new ListSink();
    const url = await start({ shield: shieldRequiring({ requireHybrid: true }), receipts });
    const classical = await handSigned(url);
    expect([classical.res.status, classical.problem?.code]).toEqual([401, 'hybrid_signature_required']);
    expect(classical.res.headers.get('accept-signature')).toMatch(/^ctp=\(.*, ctp-pq=\(/);
    const hybrid = await signedRequest(url, { method: 'POST', body: '{}' }, { key: es256, pqKey: mldsa, consentToken: token });
    expect(hybrid.status).toBe(200);
    expect(receipts.receipts.at(-1)).toMatchObject({ decision: 'allow', algs: ['ES256', 'ML-DSA-65'], policyId: 'test-policy' });
  });

  it('refuses a hybrid request whose ML-DSA-65 signature does not verify', async () => {
    const url = await start({ shield: shieldRequiring({ requireHybrid: true }) });
    const forged = { ...mldsa, privateKey: signingKey('x', 'ML-DSA-65').privateKey };
    const res = await signedRequest(url, { method: 'POST', body: '{}' }, { key: es256, pqKey: forged, consentToken: token });
    expect([res.status, JSON.parse(res.body.toString()).code]).toEqual([401, 'signature_invalid']);
  });

  describe('breaker (GuardBreaker contract) and availability floor', () => {
    const open: GuardBreaker = { state: 'open', tryAcquire: () => false, record: () => undefined };
    it('fails closed while the breaker is open, or degrades to the local validator when the policy says so', async () => {
      const closedUrl = await start({ breaker: open, client, validator: undefined });
      const refused = await signedRequest(closedUrl, { method: 'POST', body: '{}' }, { key: es256, consentToken: token });
      expect([refused.status, JSON.parse(refused.body.toString()).code]).toEqual([503, 'unavailable']);
      const receipts = new ListSink();
      const degradeUrl = await start({ breaker: open, client, validator, shield: shieldRequiring({ whenOpen: 'degrade' }), receipts });
      const served = await signedRequest(degradeUrl, { method: 'POST', body: '{}' }, { key: es256, consentToken: token });
      expect(served.status).toBe(200);
      expect(receipts.receipts.at(-1)).toMatchObject({ decision: 'allow', breakerState: 'open' });
    });

    it('records each call to CTP on the breaker', async () => {
      const signals: boolean[] = [];
      const counting: GuardBreaker = { state: 'closed', tryAcquire: () => true, record: (s) => void signals.push(s.ok) };
      const url = await start({ breaker: counting, client, validator: undefined });
      expect((await signedRequest(url, { method: 'POST', body: '{}' }, { key: es256, consentToken: token })).status).toBe(200);
      expect(signals).toEqual([true]);
    });
  });

  describe('channel binding (TLS 1.3 terminated by the guard)', () => {
    it('accepts a signature covering this connection\'s tls-exporter value', async () => {
      const url = await start({}, true);
      const res = await signedRequest(url, { method: 'POST', body: '{}' }, { key: es256, consentToken: token, tls: { ca: cert.cert } });
      expect(res.status).toBe(200);
    });

    it('blocks the same signed request replayed over another connection, and one that does not cover the binding', async () => {
      const url = await start({}, true);
      const { host, port } = new URL(url);
      // Sign on connection A (exporter of A), then send on connection B.
      const nonce = /nonce="([^"]+)"/.exec((await signedRequest(url, { method: 'POST', body: '{}' }, { key: { ...es256, keyid: 'nobody' }, consentToken: token, tls: { ca: cert.cert } })).headers['accept-signature'] as string)![1]!;
      const socketA = tlsConnect({ host: '127.0.0.1', port: Number(port), ca: cert.cert, minVersion: 'TLSv1.3' });
      await new Promise((r) => socketA.once('secureConnect', r));
      const exporterA = socketA.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0));
      socketA.destroy();
      const body = '{}';
      const headers: Record<string, string> = { 'ctp-consent-token': token, 'content-digest': contentDigestOf(Buffer.from(body)), 'ctp-channel-binding': `:${exporterA.toString('base64')}:` };
      const created = Math.floor(Date.now() / 1000);
      const components: [string, string][] = [['@method', 'POST'], ['@target-uri', `https://${host}/v1/summarize`], ['content-digest', headers['content-digest']!], ['ctp-consent-token', token], ['ctp-channel-binding', headers['ctp-channel-binding']!]];
      const sig = signatureHeaders(components, [{ label: 'ctp', key: es256 }], { created, expires: created + 30, nonce });
      const send = (extra: Record<string, string>) =>
        new Promise<{ status: number; code: string }>((resolve, reject) => {
          const socketB = tlsConnect({ host: '127.0.0.1', port: Number(port), ca: cert.cert, minVersion: 'TLSv1.3' }, () => {
            const all = { ...headers, 'signature-input': sig['Signature-Input'], signature: sig.Signature, ...extra };
            socketB.write(`POST /v1/summarize HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nContent-Length: 2\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n{}`);
          });
          let raw = '';
          socketB.on('data', (d) => (raw += d.toString()));
          socketB.once('end', () => resolve({ status: Number(raw.split(' ')[1]), code: /"code":"([a-z_]+)"/.exec(raw)?.[1] ?? '' }));
          socketB.once('error', reject);
        });
      expect(await send({})).toEqual({ status: 403, code: 'channel_binding_mismatch' });
      const noBinding = { 'ctp-channel-binding': '' };
      expect((await send(noBinding)).code).toBe('channel_binding_mismatch');
    });

    it('refuses plain HTTP on a route whose policy requires channel binding', async () => {
      const url = await start({ shield: shieldRequiring({ requireChannelBinding: true }) });
      const { res, problem } = await handSigned(url);
      expect([res.status, problem?.code]).toEqual([403, 'channel_binding_mismatch']);
    });
  });

  describe('key binding (cnf.jkt set at issuance)', () => {
    it('accepts a bound token signed with its key, blocks it signed with another key of the same partner', async () => {
      const url = await start();
      const bound = (await client.issue(envelope(), { keyBindingJkt: await signingKeyThumbprint(es256) })).token;
      expect(JSON.parse(Buffer.from(bound.split('.')[1]!, 'base64url').toString()).cnf).toEqual({ jkt: keys.get('demo-es256')!.jkt });
      expect((await signedRequest(url, { method: 'POST', body: '{}' }, { key: es256, consentToken: bound })).status).toBe(200);
      const other = await signedRequest(url, { method: 'POST', body: '{}' }, { key: es256b, consentToken: bound });
      expect([other.status, JSON.parse(other.body.toString()).code]).toEqual([403, 'key_binding_mismatch']);
    });

    it('refuses an unbound token where the policy requires key binding', async () => {
      const url = await start({ shield: shieldRequiring({ requireKeyBinding: true }) });
      const res = await signedRequest(url, { method: 'POST', body: '{}' }, { key: es256, consentToken: token });
      expect([res.status, JSON.parse(res.body.toString()).code]).toEqual([403, 'key_binding_mismatch']);
    });
  });
});
