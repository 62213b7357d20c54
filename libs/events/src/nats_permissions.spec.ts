import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { NatsBus, type BusEvent } from '@ctp/bus';
import { natsServers } from '@ctp/bus/internal';
import { privateNats, waitFor, type PrivateServer } from '@ctp/testing';
import { ALL_LEDGER_EVENTS, ALL_REVOCATIONS, configuredStreams, LEDGER_STREAM, ledgerSubject, REVOCATION_STREAM, revocationSubject, TOKEN_OWNER_STREAM, tokenOwnerSubject } from './index';

/**
 * infra/nats/accounts.conf, the documented per-service NATS permissions, on a real nats-server:
 * each service's user does what that service does on the bus (streams at start, publishes,
 * ordered and durable consumers, direct gets, lag), and is refused what it does not need.
 */
const PASSWORDS = {
  CTP_NATS_ISSUER_PASSWORD: 'issuer-secret',
  CTP_NATS_INTROSPECTOR_PASSWORD: 'introspector-secret',
  CTP_NATS_BROADCASTER_PASSWORD: 'broadcaster-secret',
  CTP_NATS_LEDGER_WRITER_PASSWORD: 'writer-secret',
};
const streams = configuredStreams({ replicas: 1, maxBytes: 64 * 1024 * 1024, ledgerMaxAgeMs: 3_600_000 });

describe('CTP_NATS_URL', () => {
  it('names a cluster by its seed servers, and its credentials reach the client as options', () => {
    expect(natsServers('nats://ctp-issuer:p%40ss@n1:4222, nats://n2:4222,n3:4222')).toEqual({ servers: ['nats://n1:4222', 'nats://n2:4222', 'nats://n3:4222'], user: 'ctp-issuer', pass: 'p@ss' });
    expect(natsServers('tls://s3cret@nats.example:4222')).toEqual({ servers: ['tls://nats.example:4222'], token: 's3cret' });
    expect(natsServers('nats://127.0.0.1:4222')).toEqual({ servers: ['nats://127.0.0.1:4222'] });
  });
});

describe('the example NATS accounts config grants each service what it uses, and no more', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctp-nats-accounts-'));
  let nats: PrivateServer;
  const buses: NatsBus[] = [];
  const as = async (user: string, password: string) => {
    const bus = await NatsBus.connect({ servers: nats.url.replace('nats://', `nats://${user}:${password}@`), name: user, publishTimeoutMs: 1_000, ackWaitMs: 5_000 });
    buses.push(bus);
    return bus;
  };

  beforeAll(async () => {
    copyFileSync(join(__dirname, '../../../infra/nats/accounts.conf'), join(dir, 'accounts.conf'));
    writeFileSync(join(dir, 'server.conf'), 'include ./accounts.conf\n');
    // The passwords come from the server's environment, as from a Secret in production.
    nats = await privateNats({ args: ['-c', join(dir, 'server.conf')], env: PASSWORDS });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close().catch(() => undefined)));
    await nats?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('issue, revoke, follow, look up and record, each as its own user', async () => {
    const issuer = await as('ctp-issuer', PASSWORDS.CTP_NATS_ISSUER_PASSWORD);
    const introspector = await as('ctp-introspector', PASSWORDS.CTP_NATS_INTROSPECTOR_PASSWORD);
    const broadcaster = await as('ctp-broadcaster', PASSWORDS.CTP_NATS_BROADCASTER_PASSWORD);
    const writer = await as('ctp-ledger-writer', PASSWORDS.CTP_NATS_LEDGER_WRITER_PASSWORD);

    // Each creates or updates its streams at start, with the configured limits.
    await issuer.ensureStreams([streams.ledger, streams.tokenOwner]);
    await broadcaster.ensureStreams([streams.revocation, streams.tokenOwner]);
    await introspector.ensureStreams([streams.revocation, streams.ledger]);
    await writer.ensureStreams([streams.ledger, streams.revocation]);

    const jti = randomUUID();
    await issuer.publish(ledgerSubject('consent.issued'), { event_id: `consent.issued:${jti}`, type: 'consent.issued', jti });
    await issuer.publish(tokenOwnerSubject(jti), { partner_id: 'acme', expires_at: 1 });
    await introspector.publish(ledgerSubject('introspection.decisions'), { event_id: `d:${jti}`, type: 'introspection.decisions' });

    // The introspector follows revocations live; the broadcaster finds the owner and publishes.
    const heard: BusEvent<{ jti: string }>[] = [];
    const live = await introspector.subscribe<{ jti: string }>({ stream: REVOCATION_STREAM, filter: ALL_REVOCATIONS }, (e) => void heard.push(e));
    expect((await broadcaster.lastBySubject<{ partner_id: string }>(TOKEN_OWNER_STREAM, tokenOwnerSubject(jti)))?.data.partner_id).toBe('acme');
    await broadcaster.publish(revocationSubject('acme'), { type: 'consent.revoked', jti });
    await waitFor(() => heard.length === 1, 10_000, 'the introspector to hear the revocation');
    await live.stop();
    expect((await broadcaster.read({ stream: REVOCATION_STREAM, filter: ALL_REVOCATIONS, fromSeq: 1, max: 10 })).events).toHaveLength(1);
    expect((await introspector.backlog({ stream: REVOCATION_STREAM, filter: ALL_REVOCATIONS, afterSeq: 0 })).pending).toBe(1);

    // The ledger writer's durable consumers get all three events and acknowledge them.
    const recorded: string[] = [];
    const record = async (events: BusEvent<Record<string, unknown>>[]) => void recorded.push(...events.map((e) => e.subject));
    const subs = [
      await writer.consume({ stream: LEDGER_STREAM, durable: 'ledger-writer', filter: ALL_LEDGER_EVENTS, batchSize: 16, maxWaitMs: 20 }, record),
      await writer.consume({ stream: REVOCATION_STREAM, durable: 'ledger-writer', filter: ALL_REVOCATIONS, batchSize: 16, maxWaitMs: 20 }, record),
    ];
    await waitFor(() => recorded.length === 3, 10_000, 'the writer to record');
    await waitFor(async () => (await writer.consumerLag(LEDGER_STREAM, 'ledger-writer')).pending === 0, 10_000, 'the acks');
    await Promise.all(subs.map((s) => s.stop()));
  }, 60_000);

  it('refuses what a service does not do', async () => {
    const [issuer, introspector, , writer] = buses;
    await expect(introspector!.publish(revocationSubject('acme'), { type: 'consent.revoked', jti: randomUUID() })).rejects.toThrow();
    await expect(writer!.publish(ledgerSubject('consent.issued'), { event_id: 'forged', type: 'consent.issued' })).rejects.toThrow();
    await expect(issuer!.publish(revocationSubject('acme'), { type: 'consent.revoked', jti: randomUUID() })).rejects.toThrow();
    await expect(issuer!.read({ stream: REVOCATION_STREAM, filter: ALL_REVOCATIONS, fromSeq: 1, max: 1 })).rejects.toThrow();
  }, 30_000);
});
