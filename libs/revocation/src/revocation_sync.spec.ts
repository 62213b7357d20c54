import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { Cluster, Redis } from 'ioredis';
import { NatsBus } from '@ctp/bus';
import { connectRedis } from '@ctp/http';
import type { Partner } from '@ctp/partners';
import { privateNats, privateRedis, waitFor, type PrivateServer } from '@ctp/testing';
import { REVOCATION_STREAM, REVOCATION_STREAM_SPEC, TOKEN_OWNER_STREAM_SPEC } from '@ctp/events';
import { RevocationService } from './revocation_service';
import { RedisRevocationStore } from './revocation_store';
import { RevocationSync } from './revocation_sync';
import { TokenOwnerRegistry } from './token_owners';

const acme: Partner = { id: 'acme', name: 'acme', processors: ['*'], policyUri: 'https://p' };

/**
 * A running introspector view on its own NATS and Redis, which the test restarts (private
 * servers: the shared ones are never touched). Whatever restarts, in whatever order, the view
 * that kept running must hold the same revoked set as one started afterwards.
 */
describe('an introspector view that keeps running while NATS and Redis restart', () => {
  let nats: PrivateServer;
  let redisServer: PrivateServer;
  let bus: NatsBus;
  let redis: Redis | Cluster;
  let service: RevocationService;
  let running: RevocationSync;
  const store = () => new RedisRevocationStore(redis, 'sync-spec:');
  const revoked: string[] = [];

  beforeAll(async () => {
    [nats, redisServer] = await Promise.all([privateNats(), privateRedis()]);
    bus = await NatsBus.connect({ servers: nats.url, name: 'sync-spec' });
    redis = (await connectRedis(redisServer.url))!;
    await bus.ensureStreams([REVOCATION_STREAM_SPEC, TOKEN_OWNER_STREAM_SPEC]);
    service = new RevocationService({ bus, store: store(), owners: new TokenOwnerRegistry(bus) });
    running = new RevocationSync({ bus, store: store(), pullIntervalMs: 200, staleAfterMs: 1_500 });
    await running.start();
  });
  afterEach(async () => {
    await Promise.all([nats.start(), redisServer.start()]);
  });
  afterAll(async () => {
    await running?.stop();
    await bus?.close();
    redis?.disconnect();
    await Promise.all([nats?.destroy(), redisServer?.destroy()]);
  });

  /** Revokes, retrying while a server is down (the broadcaster answers 503 then; revoking is idempotent). */
  const revoke = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const jti = randomUUID();
      await waitFor(() => service.revoke(acme, jti, 'user_revoked').then(() => true), 20_000, `revoke ${jti}`);
      revoked.push(jti);
    }
  };
  const restart = (server: PrivateServer) => server.restart();
  const expectConverged = async () => {
    await waitFor(async () => revoked.every((jti) => running.isRevoked(jti)), 15_000, 'the running view to deny every revoked jti');
    const fresh = new RevocationSync({ bus, store: store() });
    await fresh.start();
    try {
      await waitFor(async () => revoked.every((jti) => fresh.isRevoked(jti)), 15_000, 'a fresh view to deny every revoked jti');
      expect(running.size).toBe(fresh.size);
    } finally {
      await fresh.stop();
    }
    await waitFor(async () => running.pushing && running.ready, 15_000, 'push delivering again');
  };

  it.each([
    ['NATS, then Redis', () => [nats, redisServer]],
    ['Redis, then NATS', () => [redisServer, nats]],
  ])('converges after %s restart, revoking all the while', async (_order, servers) => {
    await revoke(10);
    for (const server of servers()) {
      await restart(server);
      await revoke(10);
    }
    await expectConverged();
  });

  it('misses none of 200 revocations answered just before Redis restarts empty, after NATS restarted', async () => {
    await restart(nats);
    await revoke(5);
    await revoke(200);
    await restart(redisServer);
    await expectConverged();
  });

  it('is not ready while push stays silent on a connected bus, though pulling keeps it fresh, and recovers', async () => {
    await revoke(1);
    const nc = await connect({ servers: nats.url });
    try {
      await (await jetstreamManager(nc)).streams.delete(REVOCATION_STREAM);
    } finally {
      await nc.close();
    }
    await waitFor(async () => !running.pushing, 8_000, 'push to stop delivering');
    expect(running.fresh).toBe(true);
    await waitFor(async () => !running.ready, 5_000, 'not ready');
    await bus.ensureStreams([REVOCATION_STREAM_SPEC]);
    await waitFor(async () => running.ready && running.pushing, 15_000, 'push delivering again');
    const jti = randomUUID();
    await service.revoke(acme, jti, 'user_revoked');
    await waitFor(async () => running.isRevoked(jti), 5_000, 'the new revocation, pushed');
  });
});
