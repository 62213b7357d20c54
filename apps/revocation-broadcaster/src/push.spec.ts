import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { generateApiKey } from '@ctp/partners';
import { NatsBus } from '@ctp/bus';
import { TOKEN_OWNER_STREAM_SPEC } from '@ctp/events';
import { TokenOwnerRegistry } from '@ctp/revocation';
import { NATS_URL, OpenApiContract, openSse, pathSpellings, postJson, REDIS_URL, startService, tsEntry, waitFor, type ServiceProcess } from '@ctp/testing';

/** The broadcaster as its own process on real NATS JetStream and Redis, with two partners. */
describe('revocation-broadcaster: ownership, pull, SSE and WebSocket push', () => {
  const contract = new OpenApiContract();
  const run = randomBytes(3).toString('hex');
  const acme = { id: `acme-${run}`, ...generateApiKey(`acme-${run}`) };
  const globex = { id: `globex-${run}`, ...generateApiKey(`globex-${run}`) };
  const prefix = `push:${run}:`;
  let broadcaster: ServiceProcess;
  let bus: NatsBus;
  let owners: TokenOwnerRegistry;

  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ctp-push-')), 'partners.json');
    writeFileSync(
      file,
      JSON.stringify({
        partners: [acme, globex].map((p) => ({ id: p.id, name: p.id, api_key_hashes: [p.hash], processors: ['*'], policy_uri: 'https://p.example/policy' })),
      }),
    );
    broadcaster = await startService(tsEntry('apps/revocation-broadcaster/src/main.ts'), {
      CTP_PARTNERS_FILE: file,
      CTP_NATS_URL: NATS_URL,
      CTP_REDIS_URL: REDIS_URL,
      CTP_REDIS_PREFIX: prefix,
      CTP_PUSH_HEARTBEAT_MS: '200',
      CTP_PUSH_MAX_STREAMS: '2',
    });
    bus = await NatsBus.connect({ servers: NATS_URL, name: 'push-spec' });
    await bus.ensureStreams([TOKEN_OWNER_STREAM_SPEC]);
    owners = new TokenOwnerRegistry(bus);
  });
  afterAll(async () => {
    await broadcaster?.stop();
    await bus?.close();
  });

  const auth = (p: { apiKey: string }) => ({ authorization: `Bearer ${p.apiKey}` });
  const revoke = async (p: { apiKey: string }, jti: string) => {
    const r = await postJson(`${broadcaster.url}/revoke`, { jti, reason: 'user_revoked' }, auth(p));
    contract.validate('POST', '/revoke', r.status, r.contentType, r.body);
    return r;
  };
  const page = async (p: { apiKey: string }, query: string) => {
    const res = await fetch(`${broadcaster.url}/revocations${query}`, { headers: auth(p) });
    const body = (await res.json()) as { revocations: { jti: string }[]; next_cursor: string; has_more: boolean; poll_interval_ms: number };
    contract.validate('GET', '/revocations', res.status, res.headers.get('content-type')!, body);
    return { status: res.status, body };
  };
  const cursorNow = async (p: { apiKey: string }) => {
    let cursor = '0';
    for (;;) {
      const { body } = await page(p, `?since=${cursor}&limit=1000`);
      cursor = body.next_cursor;
      if (!body.has_more) return cursor;
    }
  };

  it('lets only the owning partner revoke a known token', async () => {
    const jti = randomUUID();
    await owners.setOwner(jti, { partnerId: acme.id, expiresAt: Date.now() / 1000 + 240 });
    expect(await revoke(globex, jti)).toMatchObject({ status: 403, body: { code: 'not_token_owner' } });
    expect(await revoke(acme, jti)).toMatchObject({ status: 200, body: { status: 'ok', revoked: jti } });
    expect(await revoke(acme, jti)).toMatchObject({ status: 200 });
  });

  it('pull: each partner pages its own revocations after a cursor, with the advertised poll interval', async () => {
    const since = await cursorNow(acme);
    const mine = [randomUUID(), randomUUID()];
    await revoke(acme, mine[0]!);
    await revoke(globex, randomUUID());
    await revoke(acme, mine[1]!);
    const { body } = await page(acme, `?since=${since}`);
    expect(body.revocations.map((r) => r.jti)).toEqual(mine);
    expect(body.poll_interval_ms).toBe(1000);
    expect((await page(acme, `?since=${body.next_cursor}`)).body.revocations).toEqual([]);
    expect((await page(acme, '?since=abc')).status).toBe(400);
    expect((await page(acme, '?limit=0')).status).toBe(400);
    expect((await fetch(`${broadcaster.url}/revocations`)).status).toBe(401);
  });

  it('SSE: live revocations with ids and heartbeats; resuming from Last-Event-ID misses nothing', async () => {
    const sse = await openSse(`${broadcaster.url}/revocations/stream`, auth(acme));
    expect(sse.status).toBe(200);
    const [ready] = await sse.next(1);
    expect(ready!.event).toBe('ready');
    const first = randomUUID();
    await revoke(acme, first);
    await revoke(globex, randomUUID());
    const [live] = await sse.next(1);
    expect(live).toMatchObject({ event: 'revocation', id: expect.stringMatching(/^\d+$/) });
    expect(JSON.parse(live!.data)).toMatchObject({ jti: first, reason: 'user_revoked', cursor: live!.id });
    await waitFor(async () => sse.comments > 0, 2000, 'a heartbeat');
    sse.close();

    const missed = [randomUUID(), randomUUID(), randomUUID()];
    for (const jti of missed) await revoke(acme, jti);
    const resumed = await openSse(`${broadcaster.url}/revocations/stream`, { ...auth(acme), 'last-event-id': live!.id! });
    const backlog = await resumed.next(4);
    expect(backlog.slice(0, 3).map((e) => JSON.parse(e.data).jti)).toEqual(missed);
    expect(backlog[3]!.event).toBe('ready');
    const after = randomUUID();
    await revoke(acme, after);
    expect(JSON.parse((await resumed.next(1))[0]!.data).jti).toBe(after);
    resumed.close();
    expect((await openSse(`${broadcaster.url}/revocations/stream`)).status).toBe(401);
  });

  it('WebSocket: authenticated, resumable with ?since, same messages', async () => {
    const since = await cursorNow(globex);
    const missed = randomUUID();
    await revoke(globex, missed);
    const ws = new WebSocket(`${broadcaster.url.replace('http', 'ws')}/revocations/ws?since=${since}`, { headers: auth(globex) });
    const messages: { type: string; jti?: string }[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(String(data))));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    await waitFor(async () => messages.length >= 2, 3000, 'backlog and ready');
    expect(messages.map((m) => [m.type, m.jti])).toEqual([
      ['revocation', missed],
      ['ready', undefined],
    ]);
    const live = randomUUID();
    await revoke(globex, live);
    await waitFor(async () => messages.length >= 3, 3000, 'live revocation');
    expect(messages[2]).toMatchObject({ type: 'revocation', jti: live });
    ws.close();

    const unauthenticated = new WebSocket(`${broadcaster.url.replace('http', 'ws')}/revocations/ws`);
    const refused = await new Promise<{ status: number; hsts: unknown }>((resolve) =>
      unauthenticated.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, hsts: res.headers['strict-transport-security'] })),
    );
    expect(refused).toEqual({ status: 401, hsts: 'max-age=63072000; includeSubDomains' });

    // A raw upgrade request: the ws client would resolve dot segments before sending.
    const upgrade = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const { hostname, port } = new URL(broadcaster.url);
        const headers = { ...auth(globex), connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64') };
        request({ host: hostname, port, path, headers })
          .on('upgrade', (_res, socket) => (socket.destroy(), resolve(101)))
          .on('response', (res) => (res.resume(), resolve(res.statusCode ?? 0)))
          .on('error', reject)
          .end();
      });
    expect(await upgrade('/revocations/ws')).toBe(101);
    for (const spelling of pathSpellings('/revocations/ws')) expect([spelling, await upgrade(spelling)]).toEqual([spelling, 404]);
  });

  it('caps the push streams one partner holds open (SSE and WebSocket together) with 429 too_many_streams', async () => {
    const wsUrl = `${broadcaster.url.replace('http', 'ws')}/revocations/ws`;
    const first = await openSse(`${broadcaster.url}/revocations/stream`, auth(acme));
    const socket = new WebSocket(wsUrl, { headers: auth(acme) });
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const third = await fetch(`${broadcaster.url}/revocations/stream`, { headers: auth(acme) });
    expect(third.status).toBe(429);
    const problem = await third.json();
    contract.validate('GET', '/revocations/stream', 429, third.headers.get('content-type')!, problem);
    expect(problem).toMatchObject({ code: 'too_many_streams' });
    const refused = new WebSocket(wsUrl, { headers: auth(acme) });
    expect(await new Promise<number>((resolve) => refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)))).toBe(429);
    // Another partner is not affected, and a closed stream frees its slot.
    const other = await openSse(`${broadcaster.url}/revocations/stream`, auth(globex));
    expect(other.status).toBe(200);
    other.close();
    first.close();
    await waitFor(async () => {
      const again = await openSse(`${broadcaster.url}/revocations/stream`, auth(acme));
      again.close();
      return again.status === 200;
    }, 3000, 'a freed slot');
    socket.close();
  });
});
