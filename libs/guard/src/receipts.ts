import { randomUUID } from 'node:crypto';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { guardReceiptSchema, type GuardReceipt } from '@ctp/ctp-core';
import type { ReceiptInput, ReceiptSink } from './contracts';

/**
 * The guard's local receipt store: SQLite (node:sqlite) in WAL mode. Every receipt is committed
 * here before the guarded response leaves, so the evidence survives CTP being unreachable and the
 * guard restarting; the forwarder then moves pending receipts to CTP's ledger in batches and marks
 * each one forwarded once CTP has acknowledged it.
 */
export interface SqliteReceiptStoreOptions {
  /** Database file (created if missing); `:memory:` for a throwaway store. */
  path: string;
  /**
   * SQLite's synchronous setting. NORMAL (default): in WAL mode a committed receipt survives a
   * crash of the process; FULL: also a power loss, at one fsync per receipt.
   */
  synchronous?: 'NORMAL' | 'FULL';
  /** Receipt ids; random UUIDs unless given (tests). */
  newId?: () => string;
}

export interface StoredReceipt {
  receipt: GuardReceipt;
  /** Insertion order in this store (1, 2, ...). */
  seq: number;
  /** When CTP acknowledged it (ms since the epoch), or null while it is pending. */
  forwardedAt: number | null;
  /** The ledger event id CTP gave it, once acknowledged. */
  ledgerEventId: string | null;
}

export interface ReceiptAck {
  id: string;
  event_id: string;
}

interface Row {
  seq: number;
  body: string;
  forwarded_at: number | null;
  event_id: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS receipts (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  at INTEGER NOT NULL,
  body TEXT NOT NULL,
  forwarded_at INTEGER,
  event_id TEXT
);
CREATE INDEX IF NOT EXISTS receipts_pending ON receipts (seq) WHERE forwarded_at IS NULL;
`;

/** The wire (and stored) form of a receipt from the middleware's input and its new id; throws on what CTP would refuse. */
export function toGuardReceipt(id: string, input: ReceiptInput): GuardReceipt {
  const parsed = guardReceiptSchema.safeParse({
    id,
    decision: input.decision,
    reason: input.reason,
    method: input.method.toUpperCase(),
    path: input.path,
    content_digest: input.contentDigest,
    jti: input.jti,
    algs: input.algs,
    breaker_state: input.breakerState,
    policy_id: input.policyId,
    policy_hash: input.policyHash,
    at: input.at,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RangeError(`receipt not recorded: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`);
  }
  return parsed.data;
}

export class SqliteReceiptStore implements ReceiptSink {
  private readonly db: DatabaseSync;
  private readonly insert: StatementSync;
  private readonly byId: StatementSync;
  private readonly pendingStmt: StatementSync;
  private readonly ackStmt: StatementSync;
  private readonly newId: () => string;

  constructor(options: SqliteReceiptStoreOptions) {
    this.db = new DatabaseSync(options.path);
    const mode = this.db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode: string };
    if (options.path !== ':memory:' && mode.journal_mode !== 'wal') throw new Error(`receipt store: WAL mode refused (${mode.journal_mode})`);
    this.db.exec(`PRAGMA synchronous = ${options.synchronous ?? 'NORMAL'}; PRAGMA busy_timeout = 5000;`);
    this.db.exec(SCHEMA);
    this.insert = this.db.prepare('INSERT INTO receipts (id, at, body) VALUES (?, ?, ?)');
    this.byId = this.db.prepare('SELECT seq, body, forwarded_at, event_id FROM receipts WHERE id = ?');
    this.pendingStmt = this.db.prepare('SELECT seq, body, forwarded_at, event_id FROM receipts WHERE forwarded_at IS NULL ORDER BY seq LIMIT ?');
    this.ackStmt = this.db.prepare('UPDATE receipts SET forwarded_at = ?, event_id = ? WHERE id = ? AND forwarded_at IS NULL');
    this.newId = options.newId ?? randomUUID;
  }

  /** The journal mode SQLite reports (`wal` for a file store). */
  get journalMode(): string {
    return (this.db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode;
  }

  record(input: ReceiptInput): string {
    const receipt = toGuardReceipt(this.newId(), input);
    this.insert.run(receipt.id, receipt.at, JSON.stringify(receipt));
    return receipt.id;
  }

  get(id: string): StoredReceipt | null {
    const row = this.byId.get(id.toLowerCase()) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  /** The oldest receipts not yet acknowledged by CTP, in the order they were recorded. */
  pending(limit: number): StoredReceipt[] {
    return (this.pendingStmt.all(limit) as unknown as Row[]).map(fromRow);
  }

  /** Marks receipts forwarded, as CTP acknowledged them, in one transaction. Unknown or already acknowledged ids are ignored. */
  acknowledge(acks: readonly ReceiptAck[], at = Date.now()): number {
    let changed = 0;
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const ack of acks) changed += Number(this.ackStmt.run(at, ack.event_id, ack.id).changes);
      this.db.exec('COMMIT');
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
    return changed;
  }

  counts(): { total: number; pending: number } {
    const row = this.db.prepare('SELECT count(*) AS total, count(*) - count(forwarded_at) AS pending FROM receipts').get() as { total: number; pending: number };
    return { total: Number(row.total), pending: Number(row.pending) };
  }

  /** Receipts recorded in [fromMs, toMs), oldest first (the guard's own evidence, e.g. for a pilot day). */
  between(fromMs: number, toMs: number, limit = 10_000): StoredReceipt[] {
    const rows = this.db.prepare('SELECT seq, body, forwarded_at, event_id FROM receipts WHERE at >= ? AND at < ? ORDER BY seq LIMIT ?').all(fromMs, toMs, limit) as unknown as Row[];
    return rows.map(fromRow);
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}

function fromRow(row: Row): StoredReceipt {
  return { receipt: JSON.parse(row.body) as GuardReceipt, seq: Number(row.seq), forwardedAt: row.forwarded_at === null ? null : Number(row.forwarded_at), ledgerEventId: row.event_id };
}
