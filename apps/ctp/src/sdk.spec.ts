import { createServer, request as httpRequest, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { Registry } from 'prom-client';
import { createLogger } from '@ctp/http';
import { generateApiKey } from '@ctp/partners';
import { consentEnvelope, CtpApiError, CtpClient, createLocalValidator, TokenCache, type ContextEnvelope, type LocalValidator } from '@ctp/sdk';
import { requireConsent, type ConsentRequest } from '@ctp/sdk/express';
import { freePort, GUIDE_ENVELOPE, NATS_URL, OpenApiContract, ownLedgerConsumer, postJson, waitFor, writePartnersFile } from '@ctp/testing';
import { upConfigSchema } from './config';
import { startCtp, type RunningCtp } from './up';

const contract = new OpenApiContract();
const ISSUER = 'http://127.0.0.1:8000';
const envelope = (): ContextEnvelope => ({ ...GUIDE_ENVELOPE, features: [...GUIDE_ENVELOPE.features] });
const metric = async (url: string, line: RegExp) => Number(line.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0);

/** A proxy in front of CTP that misbehaves on request: answers itself, or forwards late. */
async function faultyProxy(target: string) {
  const plan: ('forward' | '503' | '500' | 'slow')[] = [];
  let seen = 0;
  const server: Server = createServer((req, res) => {
    seen++;
    const step = plan.shift() ?? 'forward';
    if (step === '503' || step === '500') {
      res.writeHead(Number(step), { 'content-type': 'application/problem+json', 'retry-after': '1' });
      res.end(JSON.stringify({ type: 'urn:ctp:problem:unavailable', title: 't', status: Number(step), detail: 'injected', code: step === '503' ? 'unavailable' : 'internal' }));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const upstream = httpRequest(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        const body: Buffer[] = [];
        answer.on('data', (c: Buffer) => body.push(c));
        answer.on('end', () => {
          // 'slow': CTP did the work, but the answer arrives after the client gave up.
          setTimeout(() => {
            if (res.destroyed) return;
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            res.end(Buffer.concat(body));
          }, step === 'slow' ? 600 : 0);
        });
      });
      upstream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, plan, seen: () => seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('the SDK against ctp up (partners configured)', () => {
  const acme = generateApiKey('acme');
  const globex = generateApiKey('globex');
  let ctp: RunningCtp;
  let client: CtpClient;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctp-sdk-'));
    const partnersFile = writePartnersFile(join(dir, 'partners.json'), [{ id: 'acme', hash: acme.hash }, { id: 'globex', hash: globex.hash }]);
    ctp = await startCtp(upConfigSchema.parse({ CTP_PORT: '0', CTP_DATA_DIR: dir, CTP_PARTNERS_FILE: partnersFile, CTP_DEV_MODE: 'false' }), createLogger('test'));
    client = new CtpClient({ baseUrl: ctp.url, apiKey: acme.apiKey });
  });
  afterAll(() => ctp?.close());

  it('issues, introspects and revokes with typed results', async () => {
    const issued = await client.issue(envelope(), { subjectRef: 'user-1' });
    expect(Object.keys(issued).sort()).toEqual(['expires_at', 'jti', 'token']);
    expect(await client.introspect(issued.token, envelope())).toMatchObject({ decision: 'allow', reason: null, jti: issued.jti });
    expect(await client.revoke(issued.jti, 'user_revoked')).toEqual({ status: 'ok', revoked: issued.jti });
    expect(await client.introspect(issued.token, envelope())).toMatchObject({ decision: 'deny', reason: 'revoked' });
  });

  it('throws CtpApiError with the registry code, the field errors and the attempt count', async () => {
    const bad = client.issue({ ...envelope(), channel: 'Voice!' });
    await expect(bad).rejects.toMatchObject({ name: 'CtpApiError', code: 'validation_failed', status: 400, attempts: 1, errors: [expect.objectContaining({ field: 'channel', rule: 'pattern' })] });
    await expect(new CtpClient({ baseUrl: ctp.url, apiKey: 'acme.wrong' }).introspect('t', envelope())).rejects.toMatchObject({ code: 'unauthenticated', status: 401 });
    await expect(client.revoke(((await new CtpClient({ baseUrl: ctp.url, apiKey: globex.apiKey }).issue(envelope())) as { jti: string }).jti)).rejects.toMatchObject({ code: 'not_token_owner' });
    const refused = await new CtpClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, retry: { retries: 2, baseDelayMs: 1 } }).introspect('t', envelope()).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CtpApiError);
    expect(refused).toMatchObject({ code: 'network', attempts: 3 });
  });

  describe('Idempotency-Key on POST /issue', () => {
    const issueRaw = (body: object, key: string, apiKey = acme.apiKey) => postJson(`${ctp.url}/issue`, body, { authorization: `Bearer ${apiKey}`, 'idempotency-key': key });

    it('the same key and body return the same token, marked as replayed; another body is a 422', async () => {
      const first = await issueRaw(envelope(), '"k-1"');
      const again = await issueRaw({ ...envelope() }, 'k-1');
      for (const r of [first, again]) contract.validateExchange({ method: 'POST', path: '/issue', status: r.status, contentType: r.contentType, headers: Object.fromEntries(r.headers), body: r.body });
      expect(again.body).toEqual(first.body);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      const other = await issueRaw({ ...envelope(), purpose: 'quality_assurance' }, 'k-1');
      contract.validate('POST', '/issue', other.status, other.contentType, other.body);
      expect(other.body).toMatchObject({ status: 422, code: 'idempotency_key_reused' });
    });

    it('keys are scoped per partner, and a failed issuance frees the key', async () => {
      const a = await issueRaw(envelope(), 'shared');
      const g = await issueRaw(envelope(), 'shared', globex.apiKey);
      expect(a.body.jti).not.toBe(g.body.jti);
      const refused = await issueRaw({ ...envelope(), processor: 'svc://not-allowed/v1' }, 'k-403');
      expect(refused.status).toBe(403);
      expect((await issueRaw(envelope(), 'k-403')).status).toBe(200);
    });

    it('concurrent requests with one key issue one token; the others get it or a 409 with Retry-After', async () => {
      const answers = await Promise.all(Array.from({ length: 8 }, () => issueRaw(envelope(), 'k-race')));
      const jtis = new Set(answers.filter((r) => r.status === 200).map((r) => r.body.jti));
      expect(jtis.size).toBe(1);
      for (const r of answers.filter((x) => x.status !== 200)) {
        contract.validate('POST', '/issue', r.status, r.contentType, r.body);
        expect([r.status, r.body.code, r.headers.get('retry-after')]).toEqual([409, 'idempotency_key_in_progress', '1']);
      }
    });

    it('refuses a malformed key, naming the header', async () => {
      for (const key of ['"unterminated', 'has space', '"a"b"', 'x'.repeat(256)]) {
        const r = await issueRaw(envelope(), key);
        contract.validate('POST', '/issue', r.status, r.contentType, r.body);
        expect(r.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'Idempotency-Key', rule: 'pattern' }] });
      }
    });
  });

  describe('retries', () => {
    it('retries 503 (honouring Retry-After) and a timed-out issue with its key: one token, issued once', async () => {
      const proxy = await faultyProxy(ctp.url);
      const issuedBefore = await metric(ctp.url, /^ctp_consent_issued_total\{partner="acme"\} (\d+)/m);
      const flaky = new CtpClient({ baseUrl: proxy.url, apiKey: acme.apiKey, timeoutMs: 300, retry: { retries: 3, baseDelayMs: 10, maxDelayMs: 1500 } });
      proxy.plan.push('503', 'slow');
      const started = Date.now();
      const issued = await flaky.issue(envelope());
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(proxy.seen()).toBe(3);
      expect(await metric(ctp.url, /^ctp_consent_issued_total\{partner="acme"\} (\d+)/m)).toBe(issuedBefore + 1);
      expect((await client.introspect(issued.token, envelope())).decision).toBe('allow');
      await proxy.close();
    });

    it('never retries an issue without a key once it may have landed (500, timeout), but does on 503', async () => {
      const proxy = await faultyProxy(ctp.url);
      const noKey = new CtpClient({ baseUrl: proxy.url, apiKey: acme.apiKey, timeoutMs: 300, retry: { retries: 3, baseDelayMs: 1 } });
      proxy.plan.push('500');
      await expect(noKey.issue(envelope(), { idempotencyKey: false })).rejects.toMatchObject({ code: 'internal', attempts: 1 });
      proxy.plan.push('slow');
      await expect(noKey.issue(envelope(), { idempotencyKey: false })).rejects.toMatchObject({ code: 'timeout', attempts: 1 });
      proxy.plan.push('503');
      expect((await noKey.issue(envelope(), { idempotencyKey: false })).token).toEqual(expect.any(String));
      proxy.plan.push('500', '500');
      expect((await noKey.introspect('not-a-jwt', envelope())).reason).toBe('malformed');
      await proxy.close();
    });
  });

  it('the token cache keeps a token per person and binding, re-issues on a new binding and after expiry', async () => {
    let now = Date.now();
    const cache = new TokenCache({ client, now: () => now });
    const base = consentEnvelope(envelope());
    const first = await cache.get('user-7', base);
    expect(await cache.get('user-7', base)).toBe(first);
    expect(await cache.get('user-7', envelope())).toBe(first);
    for (const changed of [{ purpose: 'quality_assurance' }, { features: ['tone'] }, { ui_copy_id: 'consent-modal-2025-11-01#de-DE' }]) {
      expect((await cache.get('user-7', { ...envelope(), ...changed })).jti).not.toBe(first.jti);
    }
    expect((await cache.get('user-8', base)).jti).not.toBe(first.jti);
    const [one, two] = await Promise.all([cache.get('user-9', base), cache.get('user-9', base)]);
    expect(one).toBe(two);
    now = Date.parse(first.expires_at) - 5_000;
    expect((await cache.get('user-7', base)).jti).not.toBe(first.jti);
    // The replaced token may still be accepted: revoking the person's consent must cover it too.
    const toRevoke = await cache.forget('user-7');
    expect(toRevoke).toHaveLength(5);
    expect(toRevoke).toContain(first.jti);
    expect(await cache.forget('user-7')).toEqual([]);
    const inFlight = cache.get('user-10', base);
    const forgotten = await cache.forget('user-10');
    expect(forgotten).toEqual([(await inFlight).jti]);
  });

  it('records funnel events: ledger entries and counters, no personal data accepted', async () => {
    const before = await metric(ctp.url, /^ctp_consent_funnel_events_total\{partner="acme",outcome="agreed"\} (\d+)/m);
    const event = { outcome: 'agreed' as const, purpose: 'customer_retention', features: ['tone', 'sentiment'], ui_copy_id: GUIDE_ENVELOPE.ui_copy_id, jurisdiction: 'US-KY', event_id: '5b0f7d1e-2c44-4d5b-9d1a-0e6f5e9b8a11' };
    const recorded = await client.recordFunnelEvent(event);
    expect(recorded).toEqual({ status: 'ok', event_id: 'consent.funnel:acme:5b0f7d1e-2c44-4d5b-9d1a-0e6f5e9b8a11' });
    expect(await metric(ctp.url, /^ctp_consent_funnel_events_total\{partner="acme",outcome="agreed"\} (\d+)/m)).toBe(before + 1);
    await waitFor(async () => (await metric(ctp.url, /^ctp_ledger_entries_total\{type="consent.funnel"\} (\d+)/m)) >= 1, 10_000, 'the funnel event in the ledger');
    const headers = { authorization: `Bearer ${acme.apiKey}` };
    const body = { ...event, at: new Date().toISOString() };
    for (const [bad, field, rule] of [
      [{ ...body, sub: 'user-1' }, 'sub', 'unknown_field'],
      [{ ...body, outcome: 'maybe' }, 'outcome', 'invalid_value'],
      [{ ...body, at: '2020-01-01T00:00:00Z' }, 'at', 'recent'],
      [{ ...body, features: [] }, 'features', 'min:1'],
    ] as const) {
      const r = await postJson(`${ctp.url}/funnel-events`, bad, headers);
      contract.validate('POST', '/funnel-events', r.status, r.contentType, r.body);
      expect([field, r.body.errors]).toEqual([field, [expect.objectContaining({ field, rule })]]);
    }
    expect((await postJson(`${ctp.url}/funnel-events`, body)).status).toBe(401);
  });

  describe('requireConsent', () => {
    let validator: LocalValidator;
    beforeAll(async () => {
      validator = createLocalValidator({ baseUrl: ctp.url, apiKey: acme.apiKey, issuer: ISSUER });
      await validator.ready();
    });
    afterAll(() => validator.close());

    it.each(['local', 'introspect'] as const)('%s: allows with consent, and answers a person-readable problem otherwise', async (mode) => {
      const registry = new Registry();
      const app = express();
      const context = { channel: 'voice', processor: 'svc://cx-ai/v1', retention: 'session_only', jurisdiction: 'US-KY', ui_copy_id: GUIDE_ENVELOPE.ui_copy_id };
      const guard = requireConsent({ purpose: 'customer_retention', features: ['tone', 'sentiment'], envelope: context, registry, ...(mode === 'local' ? { validator } : { client }) });
      app.post('/analyse', guard, (req, res) => {
        res.json({ analysed: true, consent: (req as ConsentRequest).consent });
      });
      app.post('/analyse-stress', requireConsent({ purpose: 'customer_retention', features: ['stress'], envelope: context, registry, validator }), (_req, res) => {
        res.json({ analysed: true });
      });
      const server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const call = (path: string, token?: string) =>
        fetch(`${url}${path}`, { method: 'POST', headers: token ? { 'CTP-Consent-Token': token } : {} }).then(async (r) => ({ status: r.status, type: r.headers.get('content-type'), body: (await r.json()) as Record<string, unknown> }));
      const issued = await client.issue(envelope());

      const allowed = await call('/analyse', issued.token);
      expect(allowed).toMatchObject({ status: 200, body: { analysed: true, consent: { decision: 'allow', jti: issued.jti, mode } } });
      const missing = await call('/analyse');
      expect(missing).toMatchObject({ status: 403, type: 'application/problem+json', body: { type: 'urn:ctp:problem:consent_denied', code: 'consent_missing', status: 403 } });
      expect(missing.body.detail).toMatch(/^We need your permission/);
      expect((await call('/analyse-stress', issued.token)).body).toMatchObject({ code: 'scope_insufficient', detail: expect.stringMatching(/not agreed/) });
      await client.revoke(issued.jti);
      await waitFor(async () => (await call('/analyse', issued.token)).body.code === 'revoked', 5000, 'a revoked token to be refused');
      expect((await call('/analyse', issued.token)).body.detail).toMatch(/withdrew your consent/);

      const exported = await registry.metrics();
      expect(exported).toMatch(new RegExp(`ctp_sdk_consent_decisions_total\\{decision="allow",reason="none",mode="${mode}"\\} 1`));
      expect(exported).toMatch(new RegExp(`ctp_sdk_consent_decisions_total\\{decision="deny",reason="consent_missing",mode="${mode}"\\} 1`));
      expect(exported).toMatch(new RegExp(`ctp_sdk_consent_decision_seconds_count\\{mode="${mode}"\\} \\d+`));
      server.close();
    });
  });
});

describe('the local validator fails closed while CTP is gone, and converges when it is back (real NATS)', () => {
  let ctp: RunningCtp | undefined;
  let validator: LocalValidator | undefined;
  afterAll(async () => {
    await validator?.close();
    await ctp?.close();
  });

  it('denies with revocation_unavailable after staleAfterMs, then sees a revocation made after the restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctp-sdk-restart-'));
    const port = await freePort();
    const config = upConfigSchema.parse({ CTP_PORT: String(port), CTP_DATA_DIR: dir, CTP_NATS_URL: NATS_URL, CTP_ISSUER: ISSUER, ...ownLedgerConsumer(`ledger-sdk-${port}`) });
    ctp = await startCtp(config, createLogger('test'));
    const sdk = new CtpClient({ baseUrl: ctp.url });
    validator = createLocalValidator({ baseUrl: ctp.url, issuer: ISSUER, pullIntervalMs: 100, staleAfterMs: 500 });
    await validator.ready();
    const { token, jti } = await sdk.issue(envelope());
    expect((await validator.decide(token, envelope())).decision).toBe('allow');

    await ctp.close();
    ctp = undefined;
    await waitFor(async () => !validator!.fresh, 5000, 'the view to go stale');
    expect(await validator.decide(token, envelope())).toMatchObject({ decision: 'deny', reason: 'revocation_unavailable', jti });

    ctp = await startCtp(config, createLogger('test'));
    await validator.ready(10_000);
    expect((await validator.decide(token, envelope())).decision).toBe('allow');
    await sdk.revoke(jti);
    await waitFor(async () => (await validator!.decide(token, envelope())).reason === 'revoked', 5000, 'the revocation after the restart');
  }, 60_000);
});
