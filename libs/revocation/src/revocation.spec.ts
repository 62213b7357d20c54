import { randomBytes, randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis, type Cluster } from 'ioredis';
import { MemoryBus, NatsBus, type EventBus } from '@ctp/bus';
import { CtpError, REVOCATION_REPLAY_WINDOW_SECONDS } from '@ctp/ctp-core';
import type { Partner } from '@ctp/partners';
import { NATS_URL, REDIS_URL, waitFor } from '@ctp/testing';
import { connectRedis } from '@ctp/http';
import { REVOCATION_STREAM, REVOCATION_STREAM_SPEC, TOKEN_OWNER_STREAM_SPEC } from '@ctp/events';
import { RevocationFeed, type PartnerRevocation } from './feed';
import { RevocationService } from './revocation_service';
import { MemoryRevocationStore, RedisRevocationStore, type RevocationStore } from './revocation_store';
import { RevocationSync } from './revocation_sync';
import { TokenOwnerRegistry } from './token_owners';

const partner = (id: string): Partner => ({ id, name: id, processors: ['*'], policyUri: 'https://p' });

describe.each([
  ['embedded (in-process bus and revocation list)', async () => ({ bus: new MemoryBus() as EventBus, redis: undefined })],
  ['NATS JetStream and Redis', async () => ({ bus: (await NatsBus.connect({ servers: NATS_URL, name: 'revocation-spec' })) as EventBus, redis: await connectRedis(REDIS_URL) })],
])('revocation over %s', (_name, make) => {
  let bus: EventBus;
  let redis: Redis | Cluster | undefined;
  let store: RevocationStore;
  let owners: TokenOwnerRegistry;
  let service: RevocationService;
  let sync: RevocationSync;
  let feed: RevocationFeed;
  // A fresh partner id per run keeps runs apart on the shared stream.
  const acme = partner(`acme-${randomBytes(3).toString('hex')}`);
  const globex = partner(`globex-${randomBytes(3).toString('hex')}`);

  beforeAll(async () => {
    ({ bus, redis } = await make());
    store = redis ? new RedisRevocationStore(redis, `test:${randomBytes(4).toString('hex')}:`) : new MemoryRevocationStore();
    owners = new TokenOwnerRegistry(bus);
    await bus.ensureStreams([REVOCATION_STREAM_SPEC, TOKEN_OWNER_STREAM_SPEC]);
    service = new RevocationService({ bus, store, owners });
    sync = new RevocationSync({ bus, store });
    await sync.start();
    feed = new RevocationFeed(bus);
    await feed.start();
  });
  afterAll(async () => {
    await sync.stop();
    await feed.stop();
    await bus.close();
    redis?.disconnect();
  });

  it('pushes a revocation to the introspector view', async () => {
    const jti = randomUUID();
    await owners.setOwner(jti, { partnerId: acme.id, expiresAt: Date.now() / 1000 + 240 });
    await service.revoke(acme, jti, 'user_revoked');
    await waitFor(async () => sync.isRevoked(jti), 2000, 'push delivery');
    expect(sync.fresh).toBe(true);
  });

  it('carries the caller trace context on the bus event', async () => {
    const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    const jti = randomUUID();
    await service.revoke(acme, jti, 'user_revoked', traceparent);
    const seq = await bus.lastSeq(REVOCATION_STREAM);
    const { events } = await bus.read({ stream: REVOCATION_STREAM, filter: 'ctp.revocations.*', fromSeq: seq, max: 1 });
    expect(events[0]).toMatchObject({ data: { jti }, headers: { traceparent } });
  });

  it('lets only the owner revoke a known token', async () => {
    const jti = randomUUID();
    await owners.setOwner(jti, { partnerId: acme.id, expiresAt: Date.now() / 1000 + 240 });
    await expect(service.revoke(globex, jti, 'x')).rejects.toMatchObject({ code: 'not_token_owner', status: 403 });
    expect(sync.isRevoked(jti)).toBe(false);
  });

  it('keeps ownership and publishes once when the revocation list lost everything (Redis restarted empty)', async () => {
    const jti = randomUUID();
    await owners.setOwner(jti, { partnerId: acme.id, expiresAt: Date.now() / 1000 + 240 });
    await service.revoke(acme, jti, 'user_revoked');
    const seq = await bus.lastSeq(REVOCATION_STREAM);
    const emptied = new RevocationService({ bus, store: new MemoryRevocationStore(), owners });
    await expect(emptied.revoke(globex, jti, 'x')).rejects.toMatchObject({ code: 'not_token_owner', status: 403 });
    await emptied.revoke(acme, jti, 'user_revoked');
    expect(await bus.lastSeq(REVOCATION_STREAM)).toBe(seq);
    const live = randomUUID();
    await owners.setOwner(live, { partnerId: acme.id, expiresAt: Date.now() / 1000 + 240 });
    await expect(emptied.revoke(globex, live, 'x')).rejects.toMatchObject({ code: 'not_token_owner' });
    expect((await feed.page(globex.id, seq, 100)).revocations.map((r) => r.jti)).not.toContain(live);
  });

  it('records an unknown jti, and publishes each revocation once however often it is repeated', async () => {
    const jti = randomUUID();
    await service.revoke(acme, jti, 'user_revoked');
    const seq = await bus.lastSeq(REVOCATION_STREAM);
    await service.revoke(acme, jti, 'user_revoked');
    await service.revoke(acme, jti, 'again');
    expect(await bus.lastSeq(REVOCATION_STREAM)).toBe(seq);
    expect((await store.live(Date.now() / 1000)).map((r) => r.jti)).toContain(jti);
  });

  it('pages a partner its own revocations exactly once, in order', async () => {
    const start = await bus.lastSeq(REVOCATION_STREAM);
    const mine: string[] = [];
    for (let i = 0; i < 7; i++) {
      const jti = randomUUID();
      mine.push(jti);
      await service.revoke(acme, jti, 'user_revoked');
      await service.revoke(globex, randomUUID(), 'user_revoked');
    }
    const seen: PartnerRevocation[] = [];
    let cursor = start;
    for (let guard = 0; guard < 50; guard++) {
      const page = await feed.page(acme.id, cursor, 3);
      seen.push(...page.revocations);
      cursor = Number(page.next_cursor);
      if (!page.has_more) break;
    }
    expect(seen.map((r) => r.jti)).toEqual(mine);
    expect(seen.map((r) => Number(r.cursor))).toEqual([...seen.map((r) => Number(r.cursor))].sort((a, b) => a - b));
    expect((await feed.page(acme.id, cursor, 100)).revocations).toEqual([]);
  });

  it('follows from a cursor: backlog, then live, no gap and no duplicate', async () => {
    const cursor = await bus.lastSeq(REVOCATION_STREAM);
    const before = [randomUUID(), randomUUID()];
    for (const jti of before) await service.revoke(globex, jti, 'r');
    const got: string[] = [];
    const following = await feed.follow(globex.id, cursor, (r) => got.push(r.jti));
    const after = [randomUUID(), randomUUID()];
    for (const jti of after) await service.revoke(globex, jti, 'r');
    await service.revoke(acme, randomUUID(), 'not for globex');
    await waitFor(async () => got.length >= 4, 3000, 'live revocations');
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual([...before, ...after]);
    following.stop();
    expect(feed.subscribers).toBe(0);
  });

  it('a second introspector view starting later replays recent revocations from the stream', async () => {
    const jti = randomUUID();
    await service.revoke(acme, jti, 'user_revoked');
    const late = new RevocationSync({ bus, store: new MemoryRevocationStore() });
    await late.start();
    await waitFor(async () => late.isRevoked(jti), 3000, 'stream replay');
    await late.stop();
  });
});

describe('a revocation repeated after the revocation list lost it', () => {
  it('is published once for the whole replay window, not only the bus default of 2 minutes (in-process bus)', async () => {
    const bus = new MemoryBus();
    await bus.ensureStreams([REVOCATION_STREAM_SPEC, TOKEN_OWNER_STREAM_SPEC]);
    const owners = new TokenOwnerRegistry(bus);
    const jti = randomUUID();
    const t0 = Date.now();
    await new RevocationService({ bus, store: new MemoryRevocationStore(), owners }).revoke(partner('acme'), jti, 'r', undefined, t0);
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'queueMicrotask'] });
    try {
      jest.setSystemTime(t0 + (REVOCATION_REPLAY_WINDOW_SECONDS - 10) * 1000);
      await new RevocationService({ bus, store: new MemoryRevocationStore(), owners }).revoke(partner('acme'), jti, 'r');
      expect(await bus.lastSeq(REVOCATION_STREAM)).toBe(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('is remembered by JetStream for the replay window', async () => {
    const bus = await NatsBus.connect({ servers: NATS_URL, name: 'dedup-spec' });
    const nc = await connect({ servers: NATS_URL });
    try {
      await bus.ensureStreams([REVOCATION_STREAM_SPEC]);
      const info = await (await jetstreamManager(nc)).streams.info(REVOCATION_STREAM);
      expect(info.config.duplicate_window).toBe(REVOCATION_REPLAY_WINDOW_SECONDS * 1e9);
    } finally {
      await nc.close();
      await bus.close();
    }
  });
});

describe('revocation edge cases', () => {
  it('answers 503 and publishes nothing when Redis is unreachable', async () => {
    const bus = new MemoryBus();
    await bus.ensureStreams([REVOCATION_STREAM_SPEC, TOKEN_OWNER_STREAM_SPEC]);
    const unreachable = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    unreachable.on('error', () => undefined);
    const service = new RevocationService({ bus, store: new RedisRevocationStore(unreachable), owners: new TokenOwnerRegistry(bus) });
    const error = await service.revoke(partner('acme'), randomUUID(), 'r').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CtpError);
    expect(error).toMatchObject({ code: 'unavailable', status: 503, message: expect.stringMatching(/revocation list/) });
    expect(await bus.lastSeq(REVOCATION_STREAM)).toBe(0);
    unreachable.disconnect();
  });

  it('answers a cursor older than the retained stream with cursor_expired', async () => {
    const bus = new MemoryBus();
    await bus.ensureStreams([{ ...REVOCATION_STREAM_SPEC, maxAgeMs: 20 }]);
    await bus.ensureStreams([TOKEN_OWNER_STREAM_SPEC]);
    const service = new RevocationService({ bus, store: new MemoryRevocationStore(), owners: new TokenOwnerRegistry(bus) });
    await service.revoke(partner('acme'), randomUUID(), 'r');
    await service.revoke(partner('acme'), randomUUID(), 'r');
    await new Promise((r) => setTimeout(r, 40));
    const kept = randomUUID();
    await service.revoke(partner('acme'), kept, 'r');
    const feed = new RevocationFeed(bus);
    await expect(feed.page('acme', 1, 10)).rejects.toMatchObject({ code: 'cursor_expired', status: 410 });
    expect((await feed.page('acme', 2, 10)).revocations.map((r) => r.jti)).toEqual([kept]);
    expect((await feed.page('acme', 0, 10)).revocations.map((r) => r.jti)).toEqual([kept]);
  });
});
