import type { BusEvent, EventBus, Subscription } from '@ctp/bus';
import { findChainBreak, formatCheckpoint, signNote, verifyConsistency, type NoteSigner } from '@ctp/ledger-core';
import { ALL_LEDGER_EVENTS, ALL_REVOCATIONS, LEDGER_STREAM, REVOCATION_STREAM } from '@ctp/events';
import { consumeSpan, ledgerAppendLatency, ledgerChainBreaks, ledgerEntries, ledgerIntegrityOk, ledgerTreeSize, registerLedgerMetrics } from '@ctp/telemetry';
import { toLedgerEvent } from './events';
import { isFenced, type LeaderLease } from './leader';
import { LedgerReader, type LedgerView } from './reader';
import type { LedgerStore, StoredCheckpoint, StoredEntry } from './store';

/**
 * Entries read per query by the integrity monitor, and verified between two turns of the event
 * loop: at most VERIFY_SLICE entries or, past the first, VERIFY_SLICE_BYTES of them (a batch of
 * 256 introspection decisions is one 32 KB entry).
 */
const VERIFY_PAGE = 1_000;
const VERIFY_SLICE = 250;
const VERIFY_SLICE_BYTES = 256 * 1024;

/** Where the slice of `rows` that starts at `from` ends (exclusive). */
function sliceEnd(rows: StoredEntry[], from: number): number {
  let end = from + 1;
  for (let bytes = rows[from]!.canonical.length; end < rows.length && end - from < VERIFY_SLICE; end++) {
    bytes += rows[end]!.canonical.length;
    if (bytes > VERIFY_SLICE_BYTES) break;
  }
  return end;
}

export interface LedgerWriterOptions {
  store: LedgerStore;
  bus: EventBus;
  signers: NoteSigner[];
  origin: string;
  /** Durable consumer name (default `ledger-writer`); replicas sharing it share the work. */
  durable?: string;
  /** When the durable is first created, record events stored from this time on (default: all retained). */
  fromTimeMs?: number;
  /** Most entries per append batch (default 4000) and the longest a batch keeps filling while the previous one is written (default 250 ms): group commit, see NatsBus.consume. */
  batchSize?: number;
  maxWaitMs?: number;
  /** Checkpoint period while new entries arrive (default 250 ms: event-to-checkpoint p95 under 300 ms). */
  checkpointIntervalMs?: number;
  /** Integrity re-verification period (default 10 s): new entries and checkpoints each time... */
  integrityIntervalMs?: number;
  /** ...and everything from the start every this many runs (default 360: hourly), to catch rewrites behind the triggers. */
  fullVerifyEvery?: number;
  /**
   * With a lease, several writers run and only the lease holder appends and signs (HA): the
   * others are standbys that keep their tree current from the database (every
   * `standbyRefreshMs`, default 500) and serve the read side, and take over when they get the
   * lease. Without one, this writer appends as the only one.
   */
  lease?: LeaderLease;
  standbyRefreshMs?: number;
  /** This writer leads now (it claimed `epoch` and consumes). */
  onLeader?: (epoch: number) => void;
  /**
   * The lease was lost (or taking over failed): this writer stopped consuming and signing, and
   * stands by again.
   */
  onLeadershipLost?: (reason: string) => void;
  onError?: (error: unknown) => void;
}

/**
 * Consumes ledger events (durable consumers, acknowledged after the database
 * commit), appends them, keeps the Merkle tree (in its LedgerReader, which the read
 * side serves proofs from), signs checkpoints that each carry a consistency proof to
 * the previous one, and keeps re-verifying the chain.
 */
export class LedgerWriter implements LedgerView {
  readonly reader: LedgerReader;
  private latestUncertain = false;
  private subscriptions: Subscription[] = [];
  private timers: NodeJS.Timeout[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private checkpointing: Promise<unknown> = Promise.resolve();
  private verifiedSeq = 0;
  private verifiedHash: Buffer | undefined;
  private verifiedCheckpoint: StoredCheckpoint | undefined;
  private integrityRuns = 0;
  private leadingEpoch: number | null = null;
  private takeover: Promise<void> = Promise.resolve();
  private stepping = false;
  private stopped = false;
  private leaderTimers: NodeJS.Timeout[] = [];

  constructor(private readonly options: LedgerWriterOptions) {
    registerLedgerMetrics();
    this.reader = new LedgerReader(options.store);
  }

  get tree() {
    return this.reader.tree;
  }

  /** Rebuilds the tree from the database and checks it against the latest checkpoint and the hash chain. */
  async load(): Promise<void> {
    try {
      await this.reader.refresh();
    } catch (error) {
      ledgerIntegrityOk.set(0);
      ledgerChainBreaks.inc();
      throw new Error(`${(error as Error).message}: refusing to extend a rewritten history`, { cause: error });
    }
    await this.verifyIntegrity(true);
  }

  /** Whether this writer appends now: always without a lease, while it holds the lease with one. */
  get leading(): boolean {
    return !this.options.lease || this.leadingEpoch !== null;
  }

  /**
   * Loads and verifies the tree, then appends (without a lease), or serves as a standby and
   * takes over in the background once the lease is its own (`leadership()` settles then).
   */
  async start(): Promise<void> {
    await this.load();
    this.every(this.timers, this.options.integrityIntervalMs ?? 10_000, () => this.verifyIntegrity());
    const { lease } = this.options;
    if (!lease) return this.lead();
    lease.onLost((reason) => void this.stepDown(`the leader lease was lost: ${reason}`));
    this.campaign();
  }

  /** Stands by (the tree refreshed from the database) until the lease is this writer's, then leads. */
  private campaign(): void {
    const lease = this.options.lease!;
    const onError = (error: unknown) => this.options.onError?.(error);
    this.reader.start(this.options.standbyRefreshMs ?? 500, onError);
    this.takeover = (async () => {
      const epoch = await lease.acquire(onError);
      if (epoch === null || this.stopped) return;
      try {
        await this.reader.stop();
        this.options.store.leaderEpoch = epoch;
        // Everything the previous leader committed, checked from where this standby had verified.
        await this.reader.refresh();
        if (!(await this.verifyIntegrity())) throw new Error('the ledger does not verify');
        this.leadingEpoch = epoch;
        await this.lead();
      } catch (error) {
        await this.stepDown(`taking over failed: ${(error as Error).message}`);
        return;
      }
      this.options.onLeader?.(epoch);
    })();
  }

  /** Settles when this standby has taken over (or given up); at once without a lease. */
  leadership(): Promise<void> {
    return this.takeover;
  }

  private async lead(): Promise<void> {
    const durable = this.options.durable ?? 'ledger-writer';
    const consume = { batchSize: this.options.batchSize ?? 4000, maxWaitMs: this.options.maxWaitMs ?? 250, fromTimeMs: this.options.fromTimeMs };
    const handler = (events: BusEvent<Record<string, unknown>>[]) => this.appendSerially(events);
    this.subscriptions = [
      await this.options.bus.consume({ stream: LEDGER_STREAM, durable, filter: ALL_LEDGER_EVENTS, ...consume }, handler),
      await this.options.bus.consume({ stream: REVOCATION_STREAM, durable, filter: ALL_REVOCATIONS, ...consume }, handler),
    ];
    this.every(this.leaderTimers, this.options.checkpointIntervalMs ?? 250, () => this.checkpoint());
  }

  /**
   * Stops appending and signing at once (the fence refuses this writer already, or will), gives
   * the lock back if it still holds it, reports why, and stands by again: a PostgreSQL restart ends
   * the lease of every writer, and whichever gets it back first leads.
   */
  private async stepDown(reason: string): Promise<void> {
    if (this.stepping || this.stopped) return;
    this.stepping = true;
    this.leadingEpoch = null;
    this.options.store.leaderEpoch = null;
    await this.options.lease?.release();
    await this.stopLeading();
    this.options.onLeadershipLost?.(reason);
    this.stepping = false;
    if (!this.stopped) this.campaign();
  }

  private async stopLeading(): Promise<void> {
    for (const t of this.leaderTimers) clearInterval(t);
    this.leaderTimers = [];
    await Promise.all(this.subscriptions.map((s) => s.stop()));
    this.subscriptions = [];
    await this.queue.catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.reader.stop();
    await this.stopLeading();
  }

  get checkpointed(): StoredCheckpoint | null {
    return this.reader.checkpointed;
  }

  /** Appends run one at a time so the in-memory tree grows in seq order. */
  private appendSerially(events: BusEvent<Record<string, unknown>>[]): Promise<void> {
    // Prepared now, while the previous batch may still be committing (the bus hands
    // over the next batch before the previous one is acknowledged); committed in turn.
    const prepared = this.options.store.prepare(events.map(toLedgerEvent));
    // The span starts when the batch's turn comes, so it measures the append, not the queue.
    const run = this.queue.then(() =>
      consumeSpan('ledger-writer process', events, async () => {
        const started = process.hrtime.bigint();
        const appended = await this.options.store.commit(prepared).catch((error: unknown) => {
          // A newer leader exists: stop now rather than at the next heartbeat.
          if (isFenced(error)) void this.stepDown(`fenced: ${(error as Error).message}`);
          throw error;
        });
        ledgerAppendLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
        // Entries this process did not see committed come first: a commit whose answer
        // was lost (the connection dropped after COMMIT; the redelivered events are
        // then already present) or another replica's batch. Without them the tree's
        // leaf indexes would drift from seq and a checkpoint would sign a wrong root.
        const first = appended[0];
        await this.reader.catchUp(first ? first.entry.seq - 1 : undefined);
        for (const { entry, leafHash } of appended) {
          if (entry.seq !== this.tree.size + 1) throw new Error(`ledger entry ${entry.seq} does not follow the tree (${this.tree.size} leaves)`);
          this.tree.append(leafHash);
          ledgerEntries.inc({ type: entry.type });
        }
        ledgerTreeSize.set({ of: 'tree' }, this.tree.size);
      }),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Signs a checkpoint for the current tree if it grew. The new root is proven
   * consistent with the previous checkpoint before it is signed, so two
   * inconsistent checkpoints are never signed.
   */
  checkpoint(now = new Date()): Promise<StoredCheckpoint | null> {
    // One at a time: the timer and a pack export (or two exports) signing the same
    // size concurrently both inserted it, and the second failed on the primary key.
    const run = this.checkpointing.then(() => this.signCheckpoint(now));
    this.checkpointing = run.catch(() => undefined);
    return run;
  }

  private async signCheckpoint(now: Date): Promise<StoredCheckpoint | null> {
    // A standby signs nothing: the leader's checkpoints reach it through the database.
    if (!this.leading) return null;
    if (this.latestUncertain) {
      // The last checkpoint insert failed, perhaps only its answer: chain the next one
      // to what the database holds, never to a stale previous.
      const stored = await this.options.store.latestCheckpoint();
      if (stored && stored.size > this.tree.size) return null;
      if (stored && !this.tree.root(stored.size).equals(stored.root)) {
        ledgerIntegrityOk.set(0);
        ledgerChainBreaks.inc();
        throw new Error(`stored checkpoint ${stored.size} does not match the ledger; not signing`);
      }
      if (stored) this.reader.checkpointSigned(stored);
      this.latestUncertain = false;
    }
    const size = this.tree.size;
    const previous = this.checkpointed;
    if (size === 0 || (previous && previous.size >= size)) return null;
    const root = this.tree.root(size);
    const consistency = previous ? this.tree.consistencyProof(previous.size, size) : [];
    if (previous && !verifyConsistency(previous.size, size, previous.root, root, consistency)) {
      ledgerIntegrityOk.set(0);
      ledgerChainBreaks.inc();
      throw new Error(`tree at ${size} is not consistent with checkpoint ${previous.size}; not signing`);
    }
    const note = await signNote(formatCheckpoint({ origin: this.options.origin, size, root }), this.options.signers);
    const checkpoint: StoredCheckpoint = { size, root, note, previousSize: previous?.size ?? null, consistency, createdAt: now };
    try {
      await this.options.store.addCheckpoint(checkpoint);
    } catch (error) {
      this.latestUncertain = true;
      if (isFenced(error)) void this.stepDown(`fenced: ${(error as Error).message}`);
      throw error;
    }
    this.reader.checkpointSigned(checkpoint);
    ledgerTreeSize.set({ of: 'checkpoint' }, size);
    return checkpoint;
  }

  /** Re-verifies the hash chain and the checkpoint chain: what is new since the last run, or everything. */
  async verifyIntegrity(full = false): Promise<boolean> {
    const { store } = this.options;
    const fullPass = full || ++this.integrityRuns % (this.options.fullVerifyEvery ?? 360) === 0;
    if (fullPass) {
      this.verifiedSeq = 0;
      this.verifiedHash = undefined;
      this.verifiedCheckpoint = undefined;
    }
    let ok = true;
    const size = await store.size();
    // Entries whose retention ended are gone (their leaf hashes stay): the chain is checked from the first one kept.
    // In pages, checked a slice at a time with a turn of the event loop between slices:
    // re-canonicalising and re-hashing thousands of entries at once held up every request
    // this process serves (70-165 ms stalls under `ctp up`, BENCHMARKS.md).
    chain: for (let from = Math.max(this.verifiedSeq + 1, await store.firstRetainedSeq()); from <= size; from += VERIFY_PAGE) {
      const rows = await store.entries(from, Math.min(size, from + VERIFY_PAGE - 1));
      for (let i = 0, end = 0; i < rows.length; i = end) {
        end = sliceEnd(rows, i);
        const slice = rows.slice(i, end);
        const prev = this.verifiedHash ?? (await store.hashBefore(from + i));
        // Incremental passes check the links and leaves over the stored bytes; the full pass also
        // re-derives each entry's canonical form (the costly part: JCS serialisation).
        const broken = findChainBreak(slice, prev, from + i, { canonicalForm: fullPass });
        if (broken) {
          ok = false;
          this.options.onError?.(new Error(`ledger chain broken at seq ${broken.seq}: ${broken.reason}`));
          break chain;
        }
        const last = slice[slice.length - 1]!;
        this.verifiedSeq = last.entry.seq;
        this.verifiedHash = last.entryHash;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    let previous = this.verifiedCheckpoint;
    for (const c of await store.checkpoints(previous ? previous.size + 1 : 0)) {
      const treeRootOk = c.size <= this.tree.size && this.tree.root(c.size).equals(c.root);
      const chainOk = !previous || (c.previousSize === previous.size && verifyConsistency(previous.size, c.size, previous.root, c.root, c.consistency));
      if (!treeRootOk || !chainOk) {
        ok = false;
        this.options.onError?.(new Error(`checkpoint ${c.size} is not consistent with the ledger`));
        break;
      }
      previous = c;
      this.verifiedCheckpoint = c;
    }
    ledgerIntegrityOk.set(ok ? 1 : 0);
    if (!ok) ledgerChainBreaks.inc();
    return ok;
  }

  private every(timers: NodeJS.Timeout[], ms: number, task: () => Promise<unknown>): void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      task()
        .catch((error: unknown) => this.options.onError?.(error))
        .finally(() => (running = false));
    }, ms);
    timer.unref();
    timers.push(timer);
  }
}
