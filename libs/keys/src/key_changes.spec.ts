import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBus, NatsBus, type BusEvent } from '@ctp/bus';
import { freePort, portOpen, waitFor } from '@ctp/testing';
import { CtpError } from '@ctp/ctp-core';
import { KEY_REVOKED_SUBJECT, LEDGER_STREAM_SPEC } from '@ctp/events';
import { KeyChanges } from './key_changes';
import { KeyDirectory } from './key_directory';
import { KeyRevocationWatch } from './key_revocations';
import { generateOperatorKey, OperatorRegistry, signStatement, type ApprovalStatement } from './operators';
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';

const STREAM = LEDGER_STREAM_SPEC;
const operatorKeys = Object.fromEntries(['alice', 'bob', 'carol'].map((id) => [id, generateOperatorKey(id)]));
const registry = OperatorRegistry.parse({ operators: ['alice', 'bob'].map((id) => operatorKeys[id]!.entry) });
const sign = (s: ApprovalStatement, as = s.operator) => signStatement(s, createPrivateKey(operatorKeys[as]!.privateKeyPem));

async function setup() {
  const keys = KeyDirectory.open(join(mkdtempSync(join(tmpdir(), 'ctp-changes-')), 'keys'));
  const bus = new MemoryBus();
  await bus.ensureStreams([STREAM]);
  const events: BusEvent<Record<string, unknown>>[] = [];
  await bus.subscribe<Record<string, unknown>>({ stream: STREAM.name, filter: 'ctp.ledger.>', fromSeq: 1 }, (e) => void events.push(e));
  return { keys, bus, events, changes: new KeyChanges({ keys, operators: registry, events: bus }) };
}

async function refused(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CtpError) return error.code;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('dual-controlled key changes', () => {
  const now = Math.floor(Date.now() / 1000);

  it('rotates only once a second, distinct operator approved, recording every step in the ledger', async () => {
    const { keys, changes, events } = await setup();
    const kid = keys.signingKey().kid;
    const s = { change_id: 'change-rotate-1', action: 'rotate' as const, kid, operator: 'alice', expires_at: now + 600 };
    const proposed = await changes.propose({ id: s.change_id, action: s.action, kid, expires_at: s.expires_at, operator: 'alice', signature: sign(s) }, now);
    expect(proposed.status).toBe('open');
    expect(keys.states().map((k) => k.status)).toEqual(['active']);
    expect(await refused(changes.approve(s.change_id, { operator: 'alice', signature: sign(s) }, now))).toBe('approval_duplicate');
    const approved = await changes.approve(s.change_id, { operator: 'bob', signature: sign({ ...s, operator: 'bob' }) }, now + 1);
    expect(approved).toMatchObject({ status: 'applied', new_kid: expect.any(String) });
    expect(keys.states(now + 1).map((k) => [k.kid, k.status])).toEqual([[approved.new_kid, 'pending'], [kid, 'active']]);
    expect(await refused(changes.approve(s.change_id, { operator: 'bob', signature: sign({ ...s, operator: 'bob' }) }, now + 2))).toBe('key_change_conflict');
    await new Promise((r) => setImmediate(r));
    expect(events.map((e) => e.data.type)).toEqual(['key.change.requested', 'key.change.approved', 'key.change.applied']);
    expect(events[2]!.data).toMatchObject({ change_id: s.change_id, new_kid: approved.new_kid, approved_by: ['alice', 'bob'] });
  });

  it('refuses an unknown operator, a bad or replayed signature, an expired change and a stale target', async () => {
    const { keys, changes } = await setup();
    const kid = keys.signingKey().kid;
    const s = { change_id: 'change-revoke-1', action: 'revoke' as const, kid, operator: 'alice', expires_at: now + 600 };
    const propose = (over: Partial<ApprovalStatement> & { signature?: string } = {}) => {
      const st = { ...s, ...over };
      return changes.propose({ id: st.change_id, action: st.action, kid: st.kid, expires_at: st.expires_at, operator: st.operator, signature: over.signature ?? sign(st) }, now);
    };
    expect(await refused(propose({ operator: 'carol' }))).toBe('operator_unknown');
    expect(await refused(propose({ signature: sign({ ...s, kid: 'other' }) }))).toBe('approval_signature_invalid');
    expect(await refused(propose({ signature: sign(s, 'bob') }))).toBe('approval_signature_invalid');
    expect(await refused(propose({ expires_at: now - 1 }))).toBe('approval_expired');
    expect(await refused(propose({ expires_at: now + 2 * 86_400 }))).toBe('validation_failed');
    expect(await refused(propose({ action: 'rotate', kid: 'not-a-key' }))).toBe('key_change_conflict');
    await propose();
    expect(await refused(propose())).toBe('key_change_conflict');
    // an approval signed for another change does not carry over
    const other = sign({ ...s, change_id: 'change-revoke-2', operator: 'bob' });
    expect(await refused(changes.approve(s.change_id, { operator: 'bob', signature: other }, now))).toBe('approval_signature_invalid');
    expect(await refused(changes.approve(s.change_id, { operator: 'bob', signature: sign({ ...s, operator: 'bob' }) }, now + 601))).toBe('approval_expired');
    expect(await refused(changes.approve('change-missing', { operator: 'bob', signature: other }, now))).toBe('not_found');
    expect(keys.states().map((k) => k.status)).toEqual(['active']);
  });

  it('revokes a key once dual-approved: out of the JWKS at once, pushed to verifiers first', async () => {
    const { keys, bus, changes } = await setup();
    const watch = new KeyRevocationWatch({ bus });
    await watch.start();
    const kid = keys.signingKey().kid;
    const s = { change_id: 'change-revoke-3', action: 'revoke' as const, kid, operator: 'bob', expires_at: now + 600 };
    await changes.propose({ id: s.change_id, action: s.action, kid, expires_at: s.expires_at, operator: 'bob', signature: sign(s) });
    expect(watch.isKeyRevoked(kid)).toBe(false);
    const applied = await changes.approve(s.change_id, { operator: 'alice', signature: sign({ ...s, operator: 'alice' }) });
    expect(keys.jwks().keys.map((k) => k.kid)).toEqual([applied.new_kid]);
    expect(keys.signingKey().kid).toBe(applied.new_kid);
    await new Promise((r) => setImmediate(r));
    expect(watch.isKeyRevoked(kid)).toBe(true);
    expect(watch.isKeyRevoked(applied.new_kid!)).toBe(false);
    await watch.stop();
    // a verifier starting later replays the revocation
    const late = new KeyRevocationWatch({ bus });
    await late.start();
    await new Promise((r) => setImmediate(r));
    expect(late.isKeyRevoked(kid)).toBe(true);
    await late.stop();
    expect(KEY_REVOKED_SUBJECT).toBe('ctp.ledger.key.revoked');
  });
});

describe('dual control when the bus is down', () => {
  let server: ChildProcess | undefined;
  afterEach(() => {
    server?.kill('SIGKILL');
  });

  it('changes nothing and answers unavailable when the ledger event cannot be stored (private NATS server, stopped)', async () => {
    const port = await freePort();
    server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', mkdtempSync(join(tmpdir(), 'ctp-nats-'))], { stdio: 'ignore' });
    await waitFor(() => portOpen(port), 10_000, 'private nats-server');
    const bus = await NatsBus.connect({ servers: `127.0.0.1:${port}`, name: 'key-changes-spec', publishTimeoutMs: 1_000 });
    try {
      await bus.ensureStreams([STREAM]);
      const keys = KeyDirectory.open(join(mkdtempSync(join(tmpdir(), 'ctp-changes-')), 'keys'));
      const changes = new KeyChanges({ keys, operators: registry, events: bus });
      const kid = keys.signingKey().kid;
      const s = { change_id: 'change-rotate-9', action: 'rotate' as const, kid, operator: 'alice', expires_at: Math.floor(Date.now() / 1000) + 600 };
      await changes.propose({ id: s.change_id, action: s.action, kid, expires_at: s.expires_at, operator: 'alice', signature: sign(s) });
      server.kill('SIGKILL');
      await new Promise((r) => server!.once('exit', r));
      expect(await refused(changes.approve(s.change_id, { operator: 'bob', signature: sign({ ...s, operator: 'bob' }) }))).toBe('unavailable');
      expect(changes.get(s.change_id)).toMatchObject({ status: 'open', approvals: [{ operator: 'alice' }] });
      expect(keys.states().map((k) => k.status)).toEqual(['active']);
    } finally {
      await bus.close().catch(() => undefined);
    }
  });
});

describe('operators file', () => {
  it('refuses fewer than two operators, duplicates and shared keys', () => {
    expect(() => OperatorRegistry.parse({ operators: [operatorKeys.alice!.entry] })).toThrow(/two operators/);
    expect(() => OperatorRegistry.parse({ operators: [operatorKeys.alice!.entry, operatorKeys.alice!.entry] })).toThrow(/twice/);
    expect(() => OperatorRegistry.parse({ operators: [operatorKeys.alice!.entry, { ...operatorKeys.alice!.entry, id: 'bob' }] })).toThrow(/share a public key/);
    const path = join(mkdtempSync(join(tmpdir(), 'ctp-ops-')), 'operators.json');
    writeFileSync(path, JSON.stringify({ operators: [operatorKeys.alice!.entry, operatorKeys.bob!.entry] }));
    expect(OperatorRegistry.load(path).size).toBe(2);
  });
});
