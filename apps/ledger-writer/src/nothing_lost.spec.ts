import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsBus } from '@ctp/bus';
import { findChainBreak, MerkleTree, NoteVerifier, openNote, parseCheckpoint, verifyConsistency } from '@ctp/ledger-core';
import { LEDGER_STREAM_SPEC, ledgerSubject, REVOCATION_STREAM_SPEC } from '@ctp/events';
import { LedgerStore } from '@ctp/ledger';
import { ledgerRoles, privateNats, privatePostgres, startService, tsEntry, waitFor, type LedgerRoles, type PrivateServer, type ServiceProcess } from '@ctp/testing';

/**
 * Issue 4, "nothing lost": under a steady stream of events the ledger-writer is
 * SIGKILLed mid-batch (twice) and PostgreSQL and NATS are restarted; afterwards
 * every published event is in the ledger exactly once, seq is gap-free, the hash
 * chain verifies and the checkpoints form one consistent, signed chain.
 *
 * Everything here runs on private servers (temp dirs, free ports): the shared
 * PostgreSQL and NATS are never stopped. The writer runs as in production: migrations
 * as the table owner, appends as a role with INSERT and SELECT only.
 */
const SCHEMA = 'ledger_nl';
const MIN_EVENTS = 2_000;
const MAX_EVENTS = 8_000;
const RATE_PER_S = 300;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ledger-writer loses nothing across crashes and server restarts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctp-nothing-lost-'));
  let pg: PrivateServer;
  let nats: PrivateServer;
  let bus: NatsBus;
  let store: LedgerStore;
  let roles: LedgerRoles;
  let writer: ServiceProcess | undefined;
  const crashed: ServiceProcess[] = [];

  beforeAll(async () => {
    [pg, nats] = await Promise.all([privatePostgres(), privateNats()]);
    bus = await NatsBus.connect({ servers: nats.url, name: 'nothing-lost-producer', publishTimeoutMs: 1_000 });
    await bus.ensureStreams([LEDGER_STREAM_SPEC, REVOCATION_STREAM_SPEC]);
    roles = await ledgerRoles(pg.url, SCHEMA);
    await (await LedgerStore.open(roles.ownerUrl, { schema: SCHEMA, max: 1 })).close();
    store = await LedgerStore.open(pg.url, { schema: SCHEMA, max: 2 });
  }, 90_000);
  afterAll(async () => {
    await writer?.stop().catch(() => undefined);
    await bus?.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    await Promise.all([pg?.destroy(), nats?.destroy()]);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const startWriter = () =>
    startService(
      tsEntry('apps/ledger-writer/src/main.ts'),
      {
        CTP_NATS_URL: nats.url,
        CTP_DATABASE_URL: roles.writerUrl,
        CTP_DATABASE_OWNER_URL: roles.ownerUrl,
        CTP_DATABASE_SCHEMA: SCHEMA,
        CTP_LEDGER_DURABLE: 'nothing-lost',
        CTP_LEDGER_KEY_DIR: join(dir, 'keys'),
        CTP_LEDGER_BATCH_SIZE: '64',
        CTP_LEDGER_BATCH_WAIT_MS: '50',
        CTP_LEDGER_CHECKPOINT_INTERVAL_MS: '100',
        LOG_LEVEL: 'warn',
      },
      { readyTimeoutMs: 60_000 },
    );
  const ledgerSize = () => store.size().catch(() => -1);
  /** Waits until the ledger grew by `n` entries: the writer is appending again. */
  const grows = async (n: number, what: string) => {
    const from = await ledgerSize();
    await waitFor(async () => (await ledgerSize()) >= from + n, 60_000, `the ledger to grow after ${what}`);
  };
  const killWriter = async () => {
    const victim = writer!;
    const gone = new Promise<void>((r) => victim.child.once('exit', () => r()));
    victim.child.kill('SIGKILL');
    await gone;
    crashed.push(victim);
    writer = undefined;
  };

  it('records every published event exactly once, gap-free, chained, under consistent checkpoints', async () => {
    writer = await startWriter();

    // A bounded producer at a steady rate, each event with a msgId; a publish that
    // fails (NATS restarting) is retried with the same id until JetStream stores it.
    const published: string[] = [];
    let disruptionsDone = false;
    const producer = (async () => {
      const t0 = Date.now();
      const inFlight = new Set<Promise<void>>();
      for (let i = 0; i < MAX_EVENTS && (i < MIN_EVENTS || !disruptionsDone); i++) {
        const due = t0 + (i * 1000) / RATE_PER_S;
        if (due > Date.now()) await sleep(due - Date.now());
        const id = `nl-${i}`;
        const p = (async () => {
          const deadline = Date.now() + 60_000;
          for (;;) {
            try {
              await bus.publish(ledgerSubject('consent.issued'), { event_id: id, type: 'consent.issued', jti: `jti-${i}`, purpose: 'customer_retention', sub: 'pairwise' }, { msgId: id });
              published.push(id);
              return;
            } catch (error) {
              if (Date.now() > deadline) throw error;
              await sleep(200);
            }
          }
        })();
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p)).catch(() => undefined);
        if (inFlight.size > 2_000) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    })();

    try {
      await grows(100, 'the first start');
      // (a) SIGKILL the writer while it appends, start it again, and kill it once more
      // while it drains the backlog the first crash left, in full batches.
      await killWriter();
      await sleep(500);
      writer = await startWriter();
      await grows(64, 'the first restart');
      await killWriter();
      writer = await startWriter();
      await grows(200, 'the second restart');
      // (b) PostgreSQL crashes (immediate shutdown: no checkpoint, WAL recovery) and comes back.
      await pg.restart('immediate');
      await grows(200, 'the PostgreSQL restart');
      // (c) NATS restarts; JetStream keeps its file store and the durable consumer.
      await nats.restart('fast');
      await grows(200, 'the NATS restart');
    } catch (error) {
      disruptionsDone = true;
      await producer.catch(() => undefined);
      // What the writer said (warnings and errors) is what tells a stall from a crash.
      throw new Error(`${(error as Error).message}\nwriter output:\n${writer?.output().slice(-8_000) ?? '(no writer running)'}`);
    }
    disruptionsDone = true;
    await producer;
    expect(published.length).toBeGreaterThanOrEqual(MIN_EVENTS);

    // Every published event reaches the ledger...
    await waitFor(async () => (await ledgerSize()) >= published.length, 120_000, `all ${published.length} events in the ledger`);
    const size = await store.size();
    const entries = await store.entries(1, size);
    // ...exactly once, with seq 1..size, nothing else, and the chain verifies.
    expect(entries.map((e) => e.entry.seq)).toEqual(Array.from({ length: size }, (_, i) => i + 1));
    expect(entries.map((e) => e.entry.event_id).sort()).toEqual([...published].sort());
    expect(findChainBreak(entries)).toBeNull();

    // The checkpoints: one per size, each signed, each the root of the ledger's own
    // tree at its size, each linked to the previous one by a verified consistency proof.
    await waitFor(async () => (await store.latestCheckpoint())?.size === size, 30_000, 'a checkpoint of the whole ledger');
    const verifiers = ((await (await fetch(`${writer!.url}/ledger/verifiers`)).json()) as { keys: { vkey: string }[] }).keys.map((k) => NoteVerifier.parse(k.vkey));
    const tree = new MerkleTree();
    for (const e of entries) tree.append(e.leafHash);
    const checkpoints = await store.checkpoints();
    expect(checkpoints.length).toBeGreaterThan(5);
    let previous: (typeof checkpoints)[number] | undefined;
    for (const c of checkpoints) {
      expect(tree.root(c.size).equals(c.root)).toBe(true);
      expect(parseCheckpoint(openNote(c.note, verifiers).text)).toEqual({ origin: 'ctp.local/ledger', size: c.size, root: c.root });
      expect(c.previousSize).toBe(previous ? previous.size : null);
      if (previous) expect(verifyConsistency(previous.size, c.size, previous.root, c.root, c.consistency)).toBe(true);
      previous = c;
    }

    // The writer that ran through the PostgreSQL and NATS restarts is still the same
    // process (no crash loop), and its own integrity monitor agrees.
    expect(writer!.child.exitCode).toBeNull();
    await waitFor(async () => (await (await fetch(`${writer!.url}/metrics`)).text()).includes('ctp_ledger_integrity_ok 1'), 30_000, 'the integrity gauge');
    expect(crashed.map((c) => c.child.signalCode)).toEqual(['SIGKILL', 'SIGKILL']);
  }, 300_000);
});
