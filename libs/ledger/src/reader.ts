import { MerkleTree } from '@ctp/ledger-core';
import type { LedgerStore, StoredCheckpoint } from './store';

/** What the read side asks of the Merkle tree: sizes, roots, leaves and proofs, never an append. */
export type TreeView = Pick<MerkleTree, 'size' | 'root' | 'leaf' | 'frontier' | 'inclusionProof' | 'consistencyProof'>;

/**
 * The read side of the ledger (as Tessera's LogReader is to its appender): the Merkle
 * tree over the entries and the newest signed checkpoint. The proof API, pack export
 * and anchoring depend on this, not on the writer, so a process that does not append
 * (a standby writer, a read replica) serves them from a LedgerReader of its own.
 */
export interface LedgerView {
  /** The Merkle tree over entries 1..size (leaf index = seq - 1). */
  readonly tree: TreeView;
  /** The newest signed checkpoint known here, or null before the first. */
  readonly checkpointed: StoredCheckpoint | null;
}

/** A view that also signs checkpoints over its tree: the writer's. */
export interface SigningView extends LedgerView {
  checkpoint(): Promise<StoredCheckpoint | null>;
}

/**
 * A LedgerView kept from the database: `refresh` appends the leaves committed since
 * (across storage tiers) and takes the newest checkpoint, refusing one the tree does
 * not match. The ledger writer keeps its tree in one of these and appends to it as it
 * commits; a process that only reads calls `start` to refresh on a period.
 */
export class LedgerReader implements LedgerView {
  readonly tree = new MerkleTree();
  private latest: StoredCheckpoint | null = null;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> = Promise.resolve();

  constructor(private readonly store: LedgerStore) {}

  get checkpointed(): StoredCheckpoint | null {
    return this.latest;
  }

  /** The writer signed (and stored) a checkpoint over this tree. */
  checkpointSigned(checkpoint: StoredCheckpoint): void {
    this.latest = checkpoint;
  }

  /** Appends to the tree the leaves the database holds beyond it (up to `toSeq`, or all). */
  async catchUp(toSeq?: number): Promise<void> {
    if (toSeq !== undefined && toSeq <= this.tree.size) return;
    for await (const page of this.store.leafHashes(this.tree.size + 1)) {
      for (const leaf of page) {
        if (toSeq !== undefined && this.tree.size >= toSeq) return;
        this.tree.append(leaf);
      }
    }
  }

  /**
   * Catches the tree up and takes the newest stored checkpoint; throws if the tree
   * does not have that checkpoint's root (the entries were rewritten under it).
   * Refreshes run one at a time; a call while one runs waits for it and runs again.
   */
  refresh(): Promise<void> {
    const run = this.refreshing.catch(() => undefined).then(() => this.refreshNow());
    this.refreshing = run;
    return run;
  }

  private async refreshNow(): Promise<void> {
    await this.catchUp();
    const stored = await this.store.latestCheckpoint();
    if (!stored || (this.latest && stored.size <= this.latest.size)) return;
    if (stored.size > this.tree.size) await this.catchUp(stored.size);
    if (stored.size > this.tree.size || !this.tree.root(stored.size).equals(stored.root)) {
      throw new Error(`ledger entries do not match checkpoint ${stored.size}`);
    }
    this.latest = stored;
  }

  /** Refreshes every `intervalMs` until stop (a read replica; the writer keeps its reader current itself). */
  start(intervalMs: number, onError: (error: unknown) => void): void {
    this.timer = setInterval(() => void this.refresh().catch(onError), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.refreshing.catch(() => undefined);
  }
}
