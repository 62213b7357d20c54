import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { MemoryBus, NatsBus, type EventBus } from '@ctp/bus';
import { NoteSigner, openNote, parseCheckpoint, verifyConsistency, verifyInclusion } from '@ctp/ledger-core';
import { registry } from '@ctp/telemetry/internal';
import { NATS_URL, PG_URL, waitFor } from '@ctp/testing';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded';
import { LEDGER_STREAM_SPEC, ledgerSubject, REVOCATION_STREAM_SPEC, revocationSubject } from '@ctp/events';
import { LedgerStore } from './store';
import { LedgerWriter } from './writer';

let embedded: EmbeddedPostgres;
beforeAll(async () => {
  embedded = await startEmbeddedPostgres();
});
afterAll(() => embedded.close());

const signers = [new NoteSigner('ctp.test/ledger', generateKeyPairSync('ed25519').privateKey), new NoteSigner('ctp.test/ledger/mldsa65', generateKeyPairSync('ml-dsa-65').privateKey)];
const schema = () => `ledger_w_${randomBytes(4).toString('hex')}`;

describe.each([
  ['in-process bus and PGlite', async () => ({ bus: new MemoryBus() as EventBus, store: await LedgerStore.open(embedded.url, { schema: schema(), max: 1 }) })],
  ['NATS JetStream and PostgreSQL', async () => ({ bus: (await NatsBus.connect({ servers: NATS_URL, name: 'writer-spec' })) as EventBus, store: await LedgerStore.open(PG_URL, { schema: schema() }) })],
])('ledger writer over %s', (_name, make) => {
  let bus: EventBus;
  let store: LedgerStore;
  let writer: LedgerWriter;
  const run = randomBytes(3).toString('hex');
  const startedAt = Date.now();
  const issued = (i: number) => ({ event_id: `consent.issued:${run}-${i}`, type: 'consent.issued', jti: randomUUID(), purpose: 'customer_retention', sub: 'pseudonym' });

  beforeAll(async () => {
    ({ bus, store } = await make());
    await bus.ensureStreams([LEDGER_STREAM_SPEC, REVOCATION_STREAM_SPEC]);
  });
  afterAll(async () => {
    await writer?.stop();
    await bus.close();
    await store.close();
  });

  const newWriter = (onError?: (e: unknown) => void) =>
    new LedgerWriter({ store, bus, signers, origin: 'ctp.test/ledger', durable: `writer-${run}`, fromTimeMs: startedAt, checkpointIntervalMs: 60_000, maxWaitMs: 50, onError });
  const present = async (jtis: string[]) => (await Promise.all(jtis.map((j) => store.entriesByJti(j)))).every((e) => e.length > 0);

  it('appends events from both streams exactly once, checkpoints them and proves inclusion and consistency', async () => {
    writer = newWriter();
    await writer.start();
    const events = Array.from({ length: 30 }, (_, i) => issued(i));
    for (const e of events.slice(0, 20)) await bus.publish(ledgerSubject('consent.issued'), e);
    const revoked = randomUUID();
    await bus.publish(revocationSubject(`p-${run}`), { type: 'consent.revoked', jti: revoked, partner_id: `p-${run}`, reason: 'r', revoked_at_ms: Date.now(), expires_at: 0 });
    await waitFor(() => present([...events.slice(0, 20).map((e) => e.jti), revoked]), 20_000);
    const first = await writer.checkpoint();
    expect(first!.size).toBeGreaterThanOrEqual(21);

    // 10..19 again (redelivered or republished), then 20..29 for the first time.
    for (const e of events.slice(10)) await bus.publish(ledgerSubject('consent.issued'), e);
    await waitFor(() => present(events.slice(20).map((e) => e.jti)), 20_000);
    for (const e of events) expect(await store.entriesByJti(e.jti)).toHaveLength(1);
    // Concurrent callers (the timer and pack exports) sign it once; both used to insert it.
    const [second, again] = await Promise.all([writer.checkpoint(), writer.checkpoint()]);
    expect(again).toBeNull();
    const size = second!.size;

    const checkpoint = parseCheckpoint(openNote(second!.note, signers.map((s) => s.verifier)).text);
    expect(checkpoint).toEqual({ origin: 'ctp.test/ledger', size, root: second!.root });
    expect(second!.previousSize).toBe(first!.size);
    expect(verifyConsistency(first!.size, size, first!.root, second!.root, second!.consistency)).toBe(true);
    const entry = (await store.entriesByJti(events[25]!.jti))[0]!;
    expect(entry.entry).toMatchObject({ type: 'consent.issued', data: { jti: events[25]!.jti } });
    const proof = writer.tree.inclusionProof(entry.entry.seq - 1, size);
    expect(verifyInclusion(entry.entry.seq - 1, size, entry.leafHash, proof, second!.root)).toBe(true);
    expect((await store.entriesByJti(revoked))[0]?.entry.type).toBe('consent.revoked');
    expect((await store.checkpoints()).map((c) => c.size)).toEqual([first!.size, size]);
  });

  it('restarts from the database, verifies it, and detects a rewritten entry', async () => {
    await writer.stop();
    writer = newWriter();
    await writer.start();
    expect(writer.tree.size).toBe(await store.size());
    expect(await writer.verifyIntegrity(true)).toBe(true);
    await writer.stop();
    // Entry 1 may be another suite's event (the stream is shared and this durable reads all of it since start).
    const victim = (await store.entry(1))!.entry.seq;
    await store.sql`ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only`;
    await store.sql`UPDATE ledger_entries SET canonical = convert_to(replace(convert_from(canonical, 'UTF8'), '"seq":', '"seq": '), 'UTF8') WHERE seq = ${victim}`;
    await store.sql`ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only`;
    const errors: unknown[] = [];
    const audit = newWriter((e) => errors.push(e));
    // A break does not stop the writer (consent keeps being recorded); it drops the
    // integrity gauge to 0, which pages at once.
    await audit.load();
    expect(await audit.verifyIntegrity(true)).toBe(false);
    expect(String(errors[0])).toMatch(new RegExp(`chain broken at seq ${victim}`));
    expect(await registry.getSingleMetricAsString('ctp_ledger_integrity_ok')).toMatch(/ctp_ledger_integrity_ok 0/);
    writer = undefined as unknown as LedgerWriter;
  });
});

/**
 * A commit whose answer is lost (the connection drops after COMMIT) must not make the
 * in-memory tree drift from the database, nor chain the next checkpoint to a stale one.
 * The real store commits; only its answer is replaced by the error a dropped
 * connection gives.
 */
describe('ledger writer when a commit succeeds but its answer is lost', () => {
  let store: LedgerStore;
  let bus: MemoryBus;
  let writer: LedgerWriter;
  beforeAll(async () => {
    store = await LedgerStore.open(PG_URL, { schema: schema() });
    bus = new MemoryBus();
    await bus.ensureStreams([LEDGER_STREAM_SPEC, REVOCATION_STREAM_SPEC]);
  });
  afterAll(async () => {
    await writer?.stop();
    await bus.close();
    await store.close();
  });

  it('catches the tree up from the database and chains checkpoints to what was stored', async () => {
    const errors: unknown[] = [];
    writer = new LedgerWriter({ store, bus, signers, origin: 'ctp.test/ledger', durable: 'lost-answer', checkpointIntervalMs: 60_000, integrityIntervalMs: 60_000, maxWaitMs: 20, onError: (e) => errors.push(e) });
    await writer.start();
    const publish = async (from: number, n: number) => {
      for (let i = from; i < from + n; i++) await bus.publish(ledgerSubject('consent.issued'), { event_id: `lost-${i}`, type: 'consent.issued', jti: `lost-${i}` });
    };
    const realCommit = store.commit.bind(store);
    const realAddCheckpoint = store.addCheckpoint.bind(store);
    let loseAppendAnswers = 0;
    let loseCheckpointAnswers = 0;
    store.commit = async (prepared) => {
      const appended = await realCommit(prepared);
      if (loseAppendAnswers > 0 && appended.length > 0) {
        loseAppendAnswers--;
        throw Object.assign(new Error('write CONNECTION_CLOSED 127.0.0.1:5432'), { code: 'CONNECTION_CLOSED' });
      }
      return appended;
    };
    store.addCheckpoint = async (c) => {
      await realAddCheckpoint(c);
      if (loseCheckpointAnswers > 0) {
        loseCheckpointAnswers--;
        throw Object.assign(new Error('write CONNECTION_CLOSED 127.0.0.1:5432'), { code: 'CONNECTION_CLOSED' });
      }
    };

    await publish(0, 10);
    await waitFor(async () => (await store.size()) === 10 && writer.tree.size === 10);
    const first = (await writer.checkpoint())!;

    // Events 10..19 are committed, the writer is told the append failed, and the
    // redelivered batch finds them all present.
    loseAppendAnswers = 1;
    await publish(10, 10);
    await waitFor(async () => (await store.size()) === 20 && loseAppendAnswers === 0);
    await publish(20, 10);
    await waitFor(async () => (await store.size()) === 30 && writer.tree.size === 30);
    const leaves = (await store.entries(1, 30)).map((e) => e.leafHash);
    leaves.forEach((leaf, i) => expect(writer.tree.leaf(i).equals(leaf)).toBe(true));

    // The checkpoint at 30 is stored but reported failed; the next one must chain to it.
    loseCheckpointAnswers = 1;
    await expect(writer.checkpoint()).rejects.toThrow(/CONNECTION_CLOSED/);
    await publish(30, 5);
    await waitFor(() => writer.tree.size === 35);
    const next = (await writer.checkpoint())!;
    expect(next.previousSize).toBe(30);
    const stored = await store.checkpoints();
    expect(stored.map((c) => [c.size, c.previousSize])).toEqual([
      [first.size, null],
      [30, first.size],
      [35, 30],
    ]);
    for (const [a, b] of [[stored[0]!, stored[1]!], [stored[1]!, stored[2]!]] as const) {
      expect(verifyConsistency(a.size, b.size, a.root, b.root, b.consistency)).toBe(true);
    }
    expect(await writer.verifyIntegrity(true)).toBe(true);
    expect(errors).toEqual([]);
  });
});
