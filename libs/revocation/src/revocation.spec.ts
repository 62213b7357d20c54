import { randomBytes, randomUUID } from 'node:crypto';
import { MemoryBus, NatsBus, type EventBus } from '@ctp/bus';
import { CtpError } from '@ctp/ctp-core';
import type { Partner } from '@ctp/partners';
import { NATS_URL, REDIS_URL, waitFor } from '@ctp/testing';
import { MemoryCrl, openCrl, RedisCrl, type CrlStore } from './crl';
import { REVOCATION_STREAM, REVOCATION_STREAM_SPEC } from '@ctp/events';
import { RevocationFeed, type PartnerRevocation } from './feed';
import { RevocationService } from './revocation_service';
import { RevocationSync } from './revocation_sync';

const partner = (id: string): Partner => ({ id, name: id, processors: ['*'], policyUri: 'https://p' });

describe.each([
  ['embedded (in-process bus and CRL)', async () => ({ bus: new MemoryBus() as EventBus, crl: new MemoryCrl() as CrlStore })],
  [
    'NATS JetStream and Redis',
    async () => ({ bus: (await NatsBus.connect({ servers: NATS_URL, name: 'revocation-spec' })) as EventBus, crl: await openCrl(REDIS_URL, `test:${randomBytes(4).toString('hex')}:`) }),
  ],
])('revocation over %s', (_name, make) => {
  let bus: EventBus;
  let crl: CrlStore;
  let service: RevocationService;
  let sync: RevocationSync;
  let feed: RevocationFeed;
  // A fresh partner id per run keeps runs apart on the shared stream.
  const acme = partner(`acme-${randomBytes(3).toString('hex')}`);
  const globex = partner(`globex-${randomBytes(3).toString('hex')}`);

  beforeAll(async () => {
    ({ bus, crl } = await make());
    await bus.ensureStreams([REVOCATION_STREAM_SPEC]);
    service = new RevocationService({ bus, crl });
    sync = new RevocationSync({ bus, crl });
    await sync.start();
    feed = new RevocationFeed(bus);
    await feed.start();
  });
  afterAll(async () => {
    await sync.stop();
    await feed.stop();
    await bus.close();
    await crl.close();
  });

  it('pushes a revocation to the introspector view', async () => {
    const jti = randomUUID();
    await crl.setOwner(jti, { partnerId: acme.id, expiresAt: Date.now() / 1000 + 240 }, Date.now() / 1000);
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
    await crl.setOwner(jti, { partnerId: acme.id, expiresAt: Date.now() / 1000 + 240 }, Date.now() / 1000);
    await expect(service.revoke(globex, jti, 'x')).rejects.toMatchObject({ code: 'not_token_owner', status: 403 });
    expect(sync.isRevoked(jti)).toBe(false);
  });

  it('records an unknown jti, and publishes each revocation once however often it is repeated', async () => {
    const jti = randomUUID();
    await service.revoke(acme, jti, 'user_revoked');
    const seq = await bus.lastSeq(REVOCATION_STREAM);
    await service.revoke(acme, jti, 'user_revoked');
    await service.revoke(acme, jti, 'again');
    expect(await bus.lastSeq(REVOCATION_STREAM)).toBe(seq);
    expect((await crl.live(Date.now() / 1000)).map((r) => r.jti)).toContain(jti);
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
    const late = new RevocationSync({ bus, crl: new MemoryCrl() });
    await late.start();
    await waitFor(async () => late.isRevoked(jti), 3000, 'stream replay');
    await late.stop();
  });
});

describe('revocation edge cases', () => {
  it('answers 503 and publishes nothing when Redis is unreachable', async () => {
    const bus = new MemoryBus();
    await bus.ensureStreams([REVOCATION_STREAM_SPEC]);
    const crl = new RedisCrl({ url: 'redis://127.0.0.1:1' });
    const service = new RevocationService({ bus, crl });
    const error = await service.revoke(partner('acme'), randomUUID(), 'r').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CtpError);
    expect(error).toMatchObject({ code: 'unavailable', status: 503 });
    expect(await bus.lastSeq(REVOCATION_STREAM)).toBe(0);
    await crl.close();
  });

  it('answers a cursor older than the retained stream with cursor_expired', async () => {
    const bus = new MemoryBus();
    await bus.ensureStreams([{ ...REVOCATION_STREAM_SPEC, maxAgeMs: 20 }]);
    const service = new RevocationService({ bus, crl: new MemoryCrl() });
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
