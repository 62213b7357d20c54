import { sign } from 'node:crypto';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { buildClaims } from '@ctp/ctp-core';
import { createLogger } from '@ctp/http';
import { MAX_BODY_BYTES } from '@ctp/http/internal';
import { KeyDirectory } from '@ctp/keys';
import { generateApiKey } from '@ctp/partners';
import {
  GUIDE_ENVELOPE,
  hostileString,
  hostileValue,
  OpenApiContract,
  requestArbitrary,
  SchemaArbitraries,
  setOwn,
  type GeneratedRequest,
  type Json,
} from '@ctp/testing';
import { upConfigSchema } from './config';
import { startCtp, type RunningCtp } from './up';

/**
 * OpenAPI-driven fuzzing of a real `ctp up` (dev mode, plus a configured partner):
 * requests generated from openapi/ctp-api.yaml, valid and hostile, to every
 * operation. Never a 5xx, and every answer is documented (status, media type,
 * body schema, headers). Reproducible: CTP_FUZZ_SEED (printed), CTP_FUZZ_RUNS.
 */
const SEED = Number(process.env.CTP_FUZZ_SEED ?? 20261123);
const RUNS = Number(process.env.CTP_FUZZ_RUNS ?? 10_000);
const BATCH = 16;
const REQUEST_TIMEOUT_MS = 15_000;
const PROCESSORS = ['svc://cx-ai/v1', 'https://api.partner.example/v2'];
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const P256_N = 'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551';

interface Exchange {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

interface Issued {
  token: string;
  jti: string;
  envelope: Json;
  owner: 'demo' | 'acme';
}

/** Sends once more when a kept-alive socket turns out closed by the server (Node's documented race). */
async function send(agent: Agent, base: URL, r: GeneratedRequest): Promise<Exchange> {
  try {
    return await sendOnce(agent, base, r);
  } catch (error) {
    if (!(error as { reusedSocket?: boolean }).reusedSocket) throw error;
    return sendOnce(agent, base, r);
  }
}

function sendOnce(agent: Agent, base: URL, r: GeneratedRequest): Promise<Exchange> {
  const streaming = r.template === '/revocations/stream' || r.template === '/revocations/ws';
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        method: r.method,
        path: r.target,
        headers: { ...r.headers, ...(r.body ? { 'content-length': String(r.body.length) } : {}) },
        // A live event stream never ends: give it its own connection and cut it once it is ready.
        agent: streaming ? false : agent,
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('latin1') });
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          if (String(res.headers['content-type']).startsWith('text/event-stream') && /event: (ready|error)/.test(Buffer.concat(chunks).toString())) {
            done();
            req.destroy();
          }
        });
        res.on('end', done);
        res.on('error', reject);
      },
    );
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, text: '' });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (error: Error & { code?: string; reusedSocket?: boolean }) => {
      if (req.reusedSocket && error.code === 'ECONNRESET') error.reusedSocket = true;
      reject(error);
    });
    req.end(r.body);
  });
}

function describeRequest(r: GeneratedRequest): string {
  const body = r.body === undefined ? '' : ` body(${r.body.length})=${JSON.stringify(r.body.toString('latin1').slice(0, 300))}`;
  return `${r.method} ${r.target.slice(0, 300)} headers=${JSON.stringify(r.headers).slice(0, 300)}${body}`;
}

describe('OpenAPI-driven fuzzing of ctp up', () => {
  const contract = new OpenApiContract();
  const acme = generateApiKey('acme');
  const globex = generateApiKey('globex');
  let ctp: RunningCtp;
  let keys: KeyDirectory;
  const issued: Issued[] = [];
  const errorLogs: string[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: BATCH });

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ctp-fuzz-'));
    const partnersFile = join(dataDir, 'partners.json');
    writeFileSync(
      partnersFile,
      JSON.stringify({
        partners: [
          { id: 'acme', name: 'Acme', api_key_hashes: [acme.hash], processors: PROCESSORS, policy_uri: 'https://acme.example/policy' },
          { id: 'globex', name: 'Globex', api_key_hashes: [globex.hash], processors: ['svc://globex/v1'], policy_uri: 'https://globex.example/policy' },
        ],
      }),
    );
    ctp = await startCtp(upConfigSchema.parse({ CTP_PORT: '0', CTP_DATA_DIR: dataDir, CTP_PARTNERS_FILE: partnersFile }), createLogger('fuzz', {
        write: (line: string) => {
          if (/"level":(50|60)/.test(line)) errorLogs.push(line.slice(0, 500));
        },
      }));
    keys = KeyDirectory.open(join(dataDir, 'keys'));
    const envelopes: Json[] = [
      { ...GUIDE_ENVELOPE },
      { ...GUIDE_ENVELOPE, features: ['sentiment'], channel: 'chat' },
      { ...GUIDE_ENVELOPE, processor: PROCESSORS[1]!, jurisdiction: 'DE', ui_copy_id: 'x' },
    ];
    // Two rounds: /revoke draws only from the first, so tokens of the second stay allowed.
    for (const envelope of [...envelopes, ...envelopes]) {
      for (const owner of ['demo', 'acme'] as const) {
        const res = await fetch(`${ctp.url}/issue`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(owner === 'acme' ? { authorization: `Bearer ${acme.apiKey}` } : {}) },
          body: JSON.stringify({ ...envelope, subject_ref: `user-${issued.length}` }),
        });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { token: string; jti: string };
        issued.push({ token: body.token, jti: body.jti, envelope, owner });
      }
    }
  });
  afterAll(async () => {
    agent.destroy();
    await ctp?.close();
  });

  /** A real token, or one with a byte, a segment, the header, the claims or the signature changed. */
  function tokenArbitrary(): fc.Arbitrary<string> {
    const real = fc.constantFrom(...issued.map((i) => i.token));
    const segments = real.map((t) => t.split('.') as [string, string, string]);
    const signedWith = (header: Json, claims: Json) => {
      const { kid, privateKey } = keys.signingKey();
      const input = `${b64({ alg: 'ES256', kid, ...header })}.${b64(claims)}`;
      return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    };
    const goodClaims = () => {
      const now = Math.floor(Date.now() / 1000);
      return buildClaims({ envelope: { ...GUIDE_ENVELOPE, features: [...GUIDE_ENVELOPE.features] }, issuer: 'http://127.0.0.1:8000', sub: 's', jti: 'c0b3e1f8-4567-4890-abcd-1234567890ab', policyUri: 'https://p', nowSeconds: now, ttlSeconds: 240 }) as unknown as Json;
    };
    const claimNames = Object.keys(goodClaims());
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ';
    return fc.oneof(
      { weight: 4, arbitrary: real },
      // one character changed anywhere (header, claims, signature, a dot)
      {
        weight: 4,
        arbitrary: fc.tuple(real, fc.nat(), fc.constantFrom(...alphabet)).map(([t, i, c]) => {
          const at = i % t.length;
          return t.slice(0, at) + c + t.slice(at + 1);
        }),
      },
      // segments swapped between tokens, dropped, repeated or added
      {
        weight: 2,
        arbitrary: fc.tuple(segments, segments, fc.constantFrom(0, 1, 2)).map(([a, b, i]) => {
          const out = [...a];
          out[i] = b[i]!;
          return out.join('.');
        }),
      },
      { weight: 1, arbitrary: segments.map(([h, p]) => `${h}.${p}`) },
      { weight: 1, arbitrary: segments.map(([h, p, s]) => `${h}.${p}.${s}.${s}`) },
      { weight: 1, arbitrary: fc.tuple(segments, fc.integer({ min: 0, max: 90 })).map(([[h, p, s], n]) => `${h}.${p}.${s.slice(0, n)}`) },
      // the signature replaced by Wycheproof-style edge values
      {
        weight: 2,
        arbitrary: fc
          .tuple(segments, fc.constantFrom('00'.repeat(64), P256_N + '00'.repeat(31) + '01', '00'.repeat(31) + '01' + P256_N, 'ff'.repeat(64), P256_N + P256_N, '00'.repeat(63), '00'.repeat(65), ''))
          .map(([[h, p], sig]) => `${h}.${p}.${Buffer.from(sig, 'hex').toString('base64url')}`),
      },
      // the header or claims re-encoded with changes, keeping the signature
      { weight: 1, arbitrary: fc.tuple(segments, fc.constantFrom<Json>({ alg: 'none' }, { alg: 'HS256' }, { alg: 'ES256' }, { alg: 'ES256', kid: 'nope' }, { alg: 'ES256', crit: ['b64'] }, { alg: 'es256' })).map(([[, p, s], h]) => `${b64(h)}.${p}.${s}`) },
      { weight: 1, arbitrary: fc.tuple(segments, hostileValue()).map(([[h, p, s], v]) => `${h}.${b64({ ...(JSON.parse(Buffer.from(p, 'base64url').toString()) as Json), exp: v })}.${s}`) },
      // properly signed by the active key, with hostile claims (reaches claim validation)
      {
        weight: 3,
        arbitrary: fc.tuple(fc.constantFrom(...claimNames), hostileValue(), fc.boolean()).map(([name, value, drop]) => {
          const claims = goodClaims();
          if (drop) delete claims[name];
          else setOwn(claims, name, value);
          return signedWith({ typ: 'JWT' }, claims);
        }),
      },
      { weight: 1, arbitrary: hostileValue().map((v) => signedWith({}, typeof v === 'object' && v !== null ? (v as Json) : { v })) },
      { weight: 1, arbitrary: hostileString() },
    );
  }

  it(`answers ${RUNS} generated requests across every operation without a 5xx, all as documented (seed ${SEED})`, async () => {
    console.log(`fuzz: seed ${SEED} (CTP_FUZZ_SEED), ${RUNS} requests (CTP_FUZZ_RUNS)`);
    const arbitraries = new SchemaArbitraries(contract.spec);
    const token = tokenArbitrary();
    const pair = fc.constantFrom(...issued);
    const revocable = fc.constantFrom(...issued.slice(0, issued.length / 2));
    const validEnvelope = arbitraries.valid({ $ref: '#/components/schemas/ContextEnvelope' }) as fc.Arbitrary<Json>;
    const envelopeArb = arbitraries.hostile({ $ref: '#/components/schemas/ContextEnvelope' });
    const requests = requestArbitrary(arbitraries, {
      authorization: fc.oneof(
        { weight: 5, arbitrary: fc.constant(undefined) },
        { weight: 4, arbitrary: fc.constant(`Bearer ${acme.apiKey}`) },
        { weight: 1, arbitrary: fc.constant(`Bearer ${globex.apiKey}`) },
        {
          weight: 2,
          arbitrary: fc.constantFrom(
            'Bearer',
            'Bearer ',
            `bearer ${acme.apiKey}`,
            `Bearer  ${acme.apiKey}`,
            `Bearer ${acme.apiKey}x`,
            `Bearer ${acme.apiKey.slice(0, -1)}`,
            `Basic ${Buffer.from('acme:x').toString('base64')}`,
            'Bearer acme.',
            'Bearer .',
            `Bearer ${'a'.repeat(201)}`,
            `Bearer demo.${'A'.repeat(43)}`,
          ),
        },
        { weight: 1, arbitrary: hostileString().map((s) => `Bearer ${Buffer.from(s, 'utf8').toString('latin1').replace(/[^\t\x20-\x7e\x80-\xff]/g, '?').slice(0, 300)}`.trim()) },
      ),
      bodies: {
        '/introspect': fc.oneof(
          { weight: 3, arbitrary: pair.map((i) => ({ token: i.token, context_envelope: i.envelope })) },
          { weight: 3, arbitrary: fc.tuple(token, pair).map(([t, i]) => ({ token: t, context_envelope: i.envelope })) },
          { weight: 2, arbitrary: fc.tuple(pair, envelopeArb).map(([i, e]) => ({ token: i.token, context_envelope: e })) },
          { weight: 1, arbitrary: fc.tuple(token, envelopeArb).map(([t, e]) => ({ token: t, context_envelope: e })) },
          // the token's own envelope with one field swapped for another valid value (context, purpose, scope)
          {
            weight: 2,
            arbitrary: fc
              .tuple(pair, validEnvelope, fc.constantFrom('ts', 'channel', 'features', 'purpose', 'retention', 'jurisdiction', 'ui_copy_id'))
              .map(([i, other, field]) => ({ token: i.token, context_envelope: { ...i.envelope, [field]: other[field] } })),
          },
        ),
        '/revoke': fc.oneof(
          revocable.map((i) => ({ jti: i.jti, reason: 'user_revoked' })),
          revocable.map((i) => ({ jti: i.jti.toUpperCase() })),
          fc.tuple(revocable, hostileValue()).map(([i, reason]) => ({ jti: i.jti, reason })),
        ),
        '/issue': fc.tuple(pair, fc.constantFrom(...PROCESSORS, 'svc://globex/v1'), fc.option(hostileString())).map(([i, processor, subjectRef]) => ({
          ...i.envelope,
          processor,
          ts: new Date().toISOString(),
          ...(subjectRef === null ? {} : { subject_ref: subjectRef }),
        })),
      },
    });

    // Half the GETs of /revocations/ws try a WebSocket upgrade, with sound or hostile handshake headers.
    const requestsWithUpgrades = fc
      .tuple(
        requests,
        fc.boolean(),
        fc.oneof(fc.constant('dGhlIHNhbXBsZSBub25jZQ=='), hostileString().map((k) => Buffer.from(k, 'utf8').toString('latin1').replace(/[^\t\x20-\x7e\x80-\xff]/g, '?').trim().slice(0, 200))),
        fc.constantFrom('13', '13', '8', '', 'x'),
      )
      .map(([r, upgrade, key, version]) =>
        upgrade && r.template === '/revocations/ws' && r.method === 'GET'
          ? { ...r, headers: { ...r.headers, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': key, 'sec-websocket-version': version } }
          : r,
      );
    const base = new URL(ctp.url);
    const violations = new Map<string, string>();
    const statuses = new Map<string, Map<number, number>>();
    let sent = 0;
    const busyMs = new Map<string, number>();
    const reasons = new Map<string, number>();
    const check = async (r: GeneratedRequest) => {
      let exchange: Exchange;
      const started = process.hrtime.bigint();
      try {
        exchange = await send(agent, base, r);
      } catch (error) {
        // A body over the limit is answered 413 and the connection closed at once, so
        // the client may see the reset before the answer (documented); nothing else may fail.
        if ((r.body?.length ?? 0) > MAX_BODY_BYTES && /ECONNRESET|EPIPE/.test((error as Error).message)) return;
        violations.set(`transport ${r.template} ${(error as Error).message}`, describeRequest(r));
        return;
      }
      sent++;
      busyMs.set(r.template, (busyMs.get(r.template) ?? 0) + Number(process.hrtime.bigint() - started) / 1e6);
      const counts = statuses.get(r.template) ?? new Map<number, number>();
      counts.set(exchange.status, (counts.get(exchange.status) ?? 0) + 1);
      statuses.set(r.template, counts);
      const contentType = String(exchange.headers['content-type'] ?? '');
      if (r.template === '/introspect' && r.method === 'POST' && exchange.status === 200) {
        const reason = String((JSON.parse(exchange.text) as { reason: unknown }).reason ?? 'allow');
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      }
      try {
        if (exchange.status >= 500) throw new Error(`${exchange.status}: ${exchange.text.slice(0, 300)}`);
        if (exchange.status >= 400 && !contentType.startsWith('application/problem+json') && r.method !== 'HEAD') throw new Error(`${exchange.status} is not a problem: ${contentType}`);
        const jwks = r.template === '/.well-known/jwks.json' && exchange.status === 200;
        if (exchange.status !== 101) {
          if (exchange.headers['x-content-type-options'] !== 'nosniff') throw new Error('no X-Content-Type-Options: nosniff');
          if (exchange.headers['cache-control'] !== (jwks ? 'public, max-age=60' : 'no-store')) throw new Error(`Cache-Control ${exchange.headers['cache-control']}`);
        }
        const media = contentType.split(';')[0]!.trim();
        const json = media === 'application/json' || media.endsWith('+json');
        let body: unknown = exchange.text;
        if (r.method === 'HEAD' || exchange.status === 101) body = undefined;
        else if (json) body = JSON.parse(Buffer.from(exchange.text, 'latin1').toString('utf8'));
        contract.validateExchange({ method: r.method, path: r.template, status: exchange.status, contentType, headers: exchange.headers, body });
      } catch (error) {
        const message = (error as Error).message.split('\n')[0]!;
        const key = `${r.method} ${r.template} ${exchange.status}: ${message.replace(/"[^"]*"/g, '""').slice(0, 160)}`;
        if (!violations.has(key)) violations.set(key, `${describeRequest(r)}\n    -> ${exchange.status} ${contentType} ${exchange.text.slice(0, 300)}`);
      }
    };

    await fc.assert(
      fc.asyncProperty(fc.array(requestsWithUpgrades, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        await Promise.all(batch.map(check));
      }),
      { seed: SEED, numRuns: Math.ceil(RUNS / BATCH), endOnFailure: true },
    );

    const histogram = [...statuses].map(([t, counts]) => `${t} (${Math.round(busyMs.get(t) ?? 0)} ms) ${[...counts].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}x${n}`).join(' ')}`);
    console.log(`fuzz: ${sent} requests answered\n${histogram.join('\n')}\n/introspect decisions: ${[...reasons].map(([k, n]) => `${k}x${n}`).join(' ')}`);
    const report = [...violations].map(([k, v]) => `${k}\n    ${v}`).join('\n');
    if (violations.size > 0) throw new Error(`seed ${SEED}: ${violations.size} kinds of violation\n${report}\nerror logs:\n${errorLogs.slice(0, 5).join('\n')}`);
    expect(sent).toBeGreaterThanOrEqual(RUNS);
    expect(errorLogs).toEqual([]);
    for (const { path } of contract.operations()) expect(statuses.get(path)?.size ?? 0).toBeGreaterThan(0);
    if (RUNS >= 10_000) {
      // The default run reaches past validation: tokens allowed and denied for deep reasons,
      // revocations (also of another partner's token), upgrades, packs.
      for (const reached of ['POST /issue 200', 'POST /introspect 200', 'POST /revoke 200', 'POST /revoke 403', 'GET /revocations 200', 'GET /revocations/ws 101', 'GET /ledger/export 200', 'GET /ledger/entries 200']) {
        expect(contract.seen).toContain(reached);
      }
      for (const reason of ['allow', 'malformed', 'bad_signature', 'invalid_claims', 'revoked', 'context_mismatch']) expect(reasons.get(reason) ?? 0).toBeGreaterThan(0);
    }
  }, Math.max(300_000, RUNS * 30));

  describe('regressions found by fuzzing (each answered a 5xx or an undocumented response before its fix)', () => {
    const raw = (method: string, target: string, headers: Record<string, string> = {}) =>
      send(agent, new URL(ctp.url), { template: '', method, target, headers, body: undefined });
    const expectDocumented = (method: string, template: string, e: Exchange) =>
      contract.validateExchange({
        method,
        path: template,
        status: e.status,
        contentType: String(e.headers['content-type'] ?? ''),
        headers: e.headers,
        body: e.text && String(e.headers['content-type']).includes('json') ? JSON.parse(e.text) : e.text || undefined,
      });

    it('a path parameter that is not valid percent-encoding is a 400 problem, not a 500 (any method)', async () => {
      for (const method of ['GET', 'OPTIONS', 'TRACE']) {
        const e = await raw(method, '/ledger/entries/%ZZ');
        expect(e.status).toBe(400);
        expect(JSON.parse(e.text)).toMatchObject({ code: 'validation_failed', errors: [{ field: '(path)', rule: 'percent_encoding' }] });
        expectDocumented(method, '/ledger/entries/{seq}', e);
      }
    });

    it('If-None-Match: * never turns an answer into an empty 304 (no response carries a validator)', async () => {
      for (const [target, template] of [['/revocations?since=0', '/revocations'], ['/ledger/verifiers', '/ledger/verifiers'], ['/.well-known/jwks.json', '/.well-known/jwks.json'], ['/healthz', '/healthz']]) {
        const e = await raw('GET', target!, { 'if-none-match': '*', 'if-modified-since': new Date().toUTCString() });
        expect(e.status).toBe(200);
        expectDocumented('GET', template!, e);
      }
    });

    it('OPTIONS /metrics is a 404 problem like every other method there, not Express\'s "GET, HEAD"', async () => {
      const e = await raw('OPTIONS', '/metrics');
      expect(e.status).toBe(404);
      expectDocumented('OPTIONS', '/metrics', e);
    });

    it('a pack export from year 0000 is a 400 problem, not a PostgreSQL error (500)', async () => {
      for (const from of ['0000-01-01T00:00:00Z', '0001-01-01T00:30:00+01:00', '2026-11-01', 'Nov 1 2026']) {
        const e = await raw('GET', `/ledger/export?from=${encodeURIComponent(from)}&to=2100-01-01T00:00:00Z`);
        expect(e.status).toBe(400);
        expectDocumented('GET', '/ledger/export', e);
      }
    });

    it('concurrent pack exports all succeed (they used to sign the same checkpoint twice: 500)', async () => {
      await fetch(`${ctp.url}/issue`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(GUIDE_ENVELOPE) });
      const target = `/ledger/export?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z`;
      const answers = await Promise.all(Array.from({ length: 6 }, () => raw('GET', target)));
      expect(answers.map((e) => e.status)).toEqual(Array(6).fill(200));
    });

    it('refused WebSocket upgrades are problems with the security headers; a bad handshake is a 400 problem, not text/html', async () => {
      const upgrade = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
      const unauthenticated = await raw('GET', '/revocations/ws', { ...upgrade, authorization: 'Bearer nope' });
      expect(unauthenticated.status).toBe(401);
      expect(unauthenticated.headers['www-authenticate']).toBe('Bearer realm="ctp"');
      expect(unauthenticated.headers['x-content-type-options']).toBe('nosniff');
      expectDocumented('GET', '/revocations/ws', unauthenticated);
      for (const bad of [{ 'sec-websocket-key': 'short' }, { 'sec-websocket-version': '7' }, { upgrade: 'h2c' }]) {
        const e = await raw('GET', '/revocations/ws', { ...upgrade, ...bad });
        expect(e.status).toBe(400);
        expect(JSON.parse(e.text)).toMatchObject({ code: 'validation_failed', errors: [{ rule: 'websocket_handshake' }] });
        expectDocumented('GET', '/revocations/ws', e);
      }
      const accepted = await raw('GET', '/revocations/ws', upgrade);
      expect(accepted.status).toBe(101);
    });

    it('an invalid frame after an accepted upgrade closes that socket and nothing else (it crashed the process)', async () => {
      const { port, hostname } = new URL(ctp.url);
      const socket = connect(Number(port), hostname);
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.on('error', () => undefined);
      socket.write(
        ['GET /revocations/ws HTTP/1.1', `Host: ${hostname}:${port}`, 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', '', ''].join('\r\n'),
      );
      await new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.write(Buffer.from([0xf1, 0x85, 0, 0, 0, 0, 1, 2, 3, 4, 5]));
      await closed;
      expect((await fetch(`${ctp.url}/healthz`)).status).toBe(200);
    });

    it('a GET of /revocations/ws without an upgrade is the documented 404', async () => {
      const e = await raw('GET', '/revocations/ws');
      expect(e.status).toBe(404);
      expectDocumented('GET', '/revocations/ws', e);
    });
  });
});
