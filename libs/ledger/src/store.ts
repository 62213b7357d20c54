import postgres, { type Sql, type TransactionSql } from 'postgres';
import { canonicalEntry, chainHash, entryLeaf, GENESIS_HASH, type Hash, type LedgerEntry } from '@ctp/ledger-core';
import { clientSpan } from '@ctp/telemetry';
import { assertMigrated, migrate } from './migrate';
import { ensurePartitions } from './tiers/partitions';
import { SegmentArchive } from './tiers/archive';

/** An event to record. `eventId` makes redelivery harmless: each id is appended once. */
export interface LedgerEvent {
  eventId: string;
  type: string;
  data: Record<string, unknown>;
}

export interface StoredEntry {
  entry: LedgerEntry;
  /** The exact bytes hashed and exported. */
  canonical: Buffer;
  entryHash: Hash;
  leafHash: Hash;
}

export interface StoredCheckpoint {
  size: number;
  root: Hash;
  note: string;
  previousSize: number | null;
  consistency: Hash[];
  createdAt: Date;
}

/** The transaction-level advisory lock every append (and the chain trigger, and an epoch claim) takes: appends never interleave. */
export const APPEND_LOCK = 4_271_300_002;
/** What the chain trigger raises when another append got in first: seq taken or event recorded (unique_violation), a gap or a broken chain (raise_exception). */
const LOST_RACE = new Set(['23505', 'P0001']);

interface EntryRow {
  seq: string;
  canonical: Buffer;
  entry_hash: Buffer;
  leaf_hash: Buffer;
}

/**
 * A stored row, its entry parsed from the canonical bytes when first read: the integrity
 * monitor reads a thousand entries per query and checks them a slice at a time, and a batch
 * of introspection decisions is a 32 KB entry, so parsing a whole page at once stalled the
 * event loop for as long as the page was large.
 */
function toStored(row: EntryRow): StoredEntry {
  let entry: LedgerEntry | undefined;
  return {
    get entry() {
      return (entry ??= JSON.parse(row.canonical.toString('utf8')) as LedgerEntry);
    },
    canonical: row.canonical,
    entryHash: row.entry_hash,
    leafHash: row.leaf_hash,
  };
}

export interface LedgerStoreOptions {
  /** Schema to use (created if missing); tests isolate themselves with one each. */
  schema?: string;
  /** Connections; keep 1 for PGlite, which serves one session. */
  max?: number;
  /**
   * Create the schema and apply migrations (default true: the connection is the table
   * owner's). false: the writer's role, which may not; the schema must be migrated already.
   */
  migrate?: boolean;
}

interface Head {
  seq: number;
  hash: Hash;
}

interface BuiltRows {
  appended: StoredEntry[];
  /** JSON array of [event_id, type, jti, canonical, entry_hash, leaf_hash] (bytes in base64), in seq order. */
  rows: string;
  tail: Head;
}

/** An append computed ahead of its transaction (LedgerStore.prepare). */
export interface PreparedAppend {
  readonly events: LedgerEvent[];
  readonly recordedAt: Date;
  readonly ids: string;
  /** The head the entries were chained to, or null when nothing was guessed. */
  readonly base: Head | null;
  readonly built: BuiltRows | null;
}

/** Entries for the events not in `skip`, numbered and chained from `head`. */
function buildRows(events: LedgerEvent[], recordedAt: Date, head: Head, skip: Set<string>): BuiltRows {
  const seen = new Set(skip);
  let seq = head.seq;
  let prev = head.hash;
  const appended: StoredEntry[] = [];
  const rows: (string | null)[][] = [];
  const recordedAtText = recordedAt.toISOString();
  for (const event of events) {
    if (seen.has(event.eventId)) continue;
    seen.add(event.eventId);
    const entry: LedgerEntry = { seq: ++seq, type: event.type, recorded_at: recordedAtText, event_id: event.eventId, data: event.data };
    const canonical = canonicalEntry(entry);
    const entryHash = chainHash(prev, canonical);
    const leafHash = entryLeaf(canonical);
    prev = entryHash;
    appended.push({ entry, canonical, entryHash, leafHash });
    const jti = typeof event.data.jti === 'string' ? event.data.jti : null;
    rows.push([entry.event_id, entry.type, jti, canonical.toString('base64'), entryHash.toString('base64'), leafHash.toString('base64')]);
  }
  return { appended, rows: JSON.stringify(rows), tail: { seq, hash: prev } };
}

/** The ledger in PostgreSQL (or PGlite over the wire protocol): the same postgres.js code for both. */
export class LedgerStore {
  /** Where the last prepared batch ends, if known: the next one is chained to it ahead of time. */
  private expectedHead: Head | null = null;
  private lastPrepared: PreparedAppend | undefined;
  /**
   * The leader epoch stamped on every batch and checkpoint this store inserts (LeaderLease), or
   * null for a ledger without a leader lease. The database refuses a stamp that no longer leads.
   */
  leaderEpoch: number | null = null;

  /** Entries that moved out of the hot tier (docs/ledger-tiers.md); reads below fall back to it. */
  readonly archive: SegmentArchive;

  private constructor(readonly sql: Sql) {
    this.archive = new SegmentArchive(sql);
  }

  static async open(url: string, options: LedgerStoreOptions = {}): Promise<LedgerStore> {
    const schema = options.schema ?? 'public';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
    const sql = postgres(url, {
      max: options.max ?? 4,
      onnotice: () => undefined,
      connect_timeout: 5,
      connection: { search_path: schema, application_name: 'ctp-ledger' },
    });
    try {
      if (options.migrate === false) {
        await assertMigrated(sql);
      } else {
        await sql.unsafe(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
        await migrate(sql);
      }
      // Hot partitions for this month and the next three (the tier maintenance keeps extending them).
      await ensurePartitions(sql, new Date(), 3);
    } catch (error) {
      await sql.end({ timeout: 1 });
      throw new Error(`PostgreSQL at ${url.replace(/\/\/[^@]*@/, '//')} is not usable: ${String(error)}`, { cause: error });
    }
    return new LedgerStore(sql);
  }

  /**
   * Appends events that are not in the ledger yet, in order, in one transaction:
   * gap-free seq, each entry chained to the previous one. Returns what was appended.
   */
  async append(events: LedgerEvent[], recordedAt = new Date()): Promise<StoredEntry[]> {
    return this.commit(this.prepare(events, recordedAt));
  }

  /**
   * The first half of an append, without I/O: the entries, hashes and statement
   * parameter for `events`, chained to where this store's previous prepared batch
   * ends. A writer prepares its next batch while the previous one commits; `commit`
   * redoes the work if the guess turns out wrong (the previous batch failed, events
   * were already recorded, another process appended), so a guess never reaches the
   * database unchecked, and the database checks the chain again in any case.
   */
  prepare(events: LedgerEvent[], recordedAt = new Date()): PreparedAppend {
    const ids = JSON.stringify(events.map((e) => e.eventId));
    const base = this.expectedHead;
    const built = base ? buildRows(events, recordedAt, base, new Set()) : null;
    const prepared: PreparedAppend = { events, recordedAt, ids, base, built };
    this.lastPrepared = prepared;
    this.expectedHead = built ? built.tail : null;
    return prepared;
  }

  /** Commits a prepared append (prepared batches are committed in the order they were prepared). */
  async commit(prepared: PreparedAppend): Promise<StoredEntry[]> {
    if (prepared.events.length === 0) return [];
    // OpenTelemetry's pg instrumentation patches `pg`, not postgres.js, and the lone
    // community package for postgres.js was not adopted (docs/operations.md, "Traces and
    // logs"), so the append transaction, the ledger's one write path, gets a span by hand.
    const attributes = { 'db.system.name': 'postgresql', 'db.operation.name': 'INSERT', 'db.collection.name': 'ledger_entries', 'db.operation.batch.size': prepared.events.length };
    return clientSpan('INSERT ledger_entries', attributes, async (span) => {
      let built: BuiltRows;
      try {
        built = await this.commitRows(prepared);
      } catch (error) {
        if (this.lastPrepared === prepared) this.expectedHead = null;
        throw error;
      }
      if (this.lastPrepared === prepared) this.expectedHead = built.tail;
      span.setAttribute('ctp.ledger.appended', built.appended.length);
      return built.appended;
    });
  }

  /**
   * The usual case is one statement: the rows as prepared, chained to the head this store
   * expected, inserted only if that is still the head (otherwise nothing is inserted). The
   * database's chain trigger checks them under the append lock, so a batch holding an event
   * already recorded (a redelivery), or a guess that a concurrent append overtook after the
   * statement's snapshot, fails there (event recorded, seq taken, chain broken). In either case
   * the transaction below takes the lock, reads the head and what is recorded, and builds the
   * batch again. (The trigger's duplicate check is the one probe per event the usual case
   * pays; looking the events up here as well doubled it.)
   */
  private async commitRows(prepared: PreparedAppend): Promise<BuiltRows> {
    const { base, built: guess } = prepared;
    if (base && guess && guess.appended.length > 0) {
      try {
        const inserted = await this.insertRows(this.sql, prepared, guess, base);
        if (inserted.count === guess.appended.length) return guess;
      } catch (error) {
        if (!LOST_RACE.has((error as { code?: string }).code ?? '')) throw error;
      }
    }
    return this.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${APPEND_LOCK})`;
      // One index probe per id (LATERAL ... LIMIT 1), never a join that a planner without
      // statistics (PGlite never analyzes) runs as a scan of the table.
      const present = new Set((await tx<{ event_id: string }[]>`SELECT i.id AS event_id FROM json_array_elements_text(${prepared.ids}::text::json) AS i(id) CROSS JOIN LATERAL (SELECT 1 FROM ledger_entries e WHERE e.event_id = i.id LIMIT 1) recorded`).map((r) => r.event_id));
      const [row] = await tx<{ seq: string; entry_hash: Buffer }[]>`SELECT seq, entry_hash FROM ledger_entries ORDER BY seq DESC LIMIT 1`;
      const head = row ? { seq: Number(row.seq), hash: row.entry_hash } : { seq: 0, hash: GENESIS_HASH };
      const built = buildRows(prepared.events, prepared.recordedAt, head, present);
      if (built.appended.length > 0) await this.insertRows(tx, prepared, built);
      return built;
    });
  }

  /**
   * Inserts built rows. The batch travels as one JSON parameter (hashes and canonical bytes in
   * base64) rather than 8 parameters per row: postgres.js and the server bind one value, not
   * tens of thousands, which was most of the client's cost of an append. With `ifHead`, the
   * rows go in only if the newest entry is still that one.
   */
  private insertRows(tx: Sql | TransactionSql, prepared: PreparedAppend, built: BuiltRows, ifHead?: Head) {
    const guard = ifHead
      ? tx`WHERE (SELECT ROW(seq, entry_hash) FROM ledger_entries ORDER BY seq DESC LIMIT 1) IS NOT DISTINCT FROM ROW(${ifHead.seq}::bigint, ${ifHead.hash}::bytea)`
      : tx``;
    return tx`INSERT INTO ledger_entries (seq, event_id, type, jti, recorded_at, canonical, entry_hash, leaf_hash, leader_epoch)
      SELECT ${built.appended[0]!.entry.seq}::bigint + r.i - 1, r.v->>0, r.v->>1, r.v->>2, ${prepared.recordedAt}::timestamptz,
             decode(r.v->>3, 'base64'), decode(r.v->>4, 'base64'), decode(r.v->>5, 'base64'), ${this.leaderEpoch}::bigint
      FROM jsonb_array_elements(${built.rows}::text::jsonb) WITH ORDINALITY AS r(v, i)
      ${guard}`;
  }

  async size(): Promise<number> {
    const [row] = await this.sql<{ seq: string }[]>`SELECT seq FROM ledger_entries ORDER BY seq DESC LIMIT 1`;
    if (row) return Number(row.seq);
    const [segment] = await this.sql<{ last_seq: string }[]>`SELECT last_seq FROM ledger_segments WHERE tier <> 'sealing' ORDER BY last_seq DESC LIMIT 1`;
    return segment ? Number(segment.last_seq) : 0;
  }

  /** The first seq whose entry is still kept (hot, warm or cold): 1 unless retention ended for older ones. */
  async firstRetainedSeq(): Promise<number> {
    const [row] = await this.sql<{ last_seq: string | null }[]>`SELECT max(last_seq) AS last_seq FROM ledger_segments WHERE tier = 'expired'`;
    return row?.last_seq ? Number(row.last_seq) + 1 : 1;
  }

  /** Leaf hashes from `fromSeq` on, in order, a page at a time (to rebuild the Merkle tree), across tiers. */
  async *leafHashes(fromSeq = 1, pageSize = 50_000): AsyncGenerator<Hash[]> {
    let segments = await this.archive.archived();
    let refreshed = false;
    for (let next = fromSeq; ; ) {
      const segment = segments.find((s) => s.firstSeq <= next && next <= s.lastSeq);
      if (segment) {
        yield (await this.archive.leafHashes(segment)).slice(next - segment.firstSeq);
        next = segment.lastSeq + 1;
        continue;
      }
      const rows = await this.sql<{ seq: string; leaf_hash: Buffer }[]>`SELECT seq, leaf_hash FROM ledger_entries WHERE seq >= ${next} ORDER BY seq LIMIT ${pageSize}`;
      const contiguous = rows.findIndex((r, i) => Number(r.seq) !== next + i);
      const page = contiguous < 0 ? rows : rows.slice(0, contiguous);
      if (page.length === 0) {
        // Nothing hot at `next`: either the end, or a partition moved out since the catalog was read.
        if (refreshed || rows.length === 0) {
          if (rows.length > 0) throw new Error(`ledger seq ${next} is neither hot nor in a segment`);
          return;
        }
        segments = await this.archive.archived();
        refreshed = true;
        continue;
      }
      refreshed = false;
      yield page.map((r) => r.leaf_hash);
      next += page.length;
    }
  }

  async entry(seq: number): Promise<StoredEntry | null> {
    const [row] = await this.sql<EntryRow[]>`SELECT seq, canonical, entry_hash, leaf_hash FROM ledger_entries WHERE seq = ${seq}`;
    if (row) return toStored(row);
    const [archived] = await this.archive.entries(seq, seq);
    return archived ?? null;
  }

  /** The entry recording an event, by its event id (hot tier: where every event id is unique). */
  async entryByEventId(eventId: string): Promise<StoredEntry | null> {
    const [row] = await this.sql<EntryRow[]>`SELECT seq, canonical, entry_hash, leaf_hash FROM ledger_entries WHERE event_id = ${eventId}`;
    return row ? toStored(row) : null;
  }

  async entriesByJti(jti: string): Promise<StoredEntry[]> {
    return (await this.sql<EntryRow[]>`SELECT seq, canonical, entry_hash, leaf_hash FROM ledger_entries WHERE jti = ${jti} ORDER BY seq`).map(toStored);
  }

  /** Entries with fromSeq <= seq <= toSeq, in order. */
  async entries(fromSeq: number, toSeq: number): Promise<StoredEntry[]> {
    const hot = (await this.sql<EntryRow[]>`SELECT seq, canonical, entry_hash, leaf_hash FROM ledger_entries WHERE seq BETWEEN ${fromSeq} AND ${toSeq} ORDER BY seq`).map(toStored);
    if (hot.length === Math.max(0, Math.min(toSeq, Number.MAX_SAFE_INTEGER) - fromSeq + 1)) return hot;
    // Some are in warm or cold segments. The hot tier is read first: an entry moved in
    // between is then found in its segment, and one read from both is kept once.
    const bySeq = new Map<number, StoredEntry>();
    for (const e of await this.archive.entries(fromSeq, toSeq)) bySeq.set(e.entry.seq, e);
    for (const e of hot) bySeq.set(e.entry.seq, e);
    return [...bySeq.values()].sort((a, b) => a.entry.seq - b.entry.seq);
  }

  /** The entry_hash just before `seq` (the genesis hash before 1). */
  async hashBefore(seq: number): Promise<Hash> {
    if (seq <= 1) return GENESIS_HASH;
    const [row] = await this.sql<{ entry_hash: Buffer }[]>`SELECT entry_hash FROM ledger_entries WHERE seq = ${seq - 1}`;
    const hash = row?.entry_hash ?? (await this.archive.entryHash(seq - 1));
    if (!hash) throw new Error(`no ledger entry ${seq - 1}`);
    return hash;
  }

  /** First and last seq recorded in a time range (inclusive from, exclusive to). */
  async seqRange(from: Date, to: Date): Promise<{ first: number; last: number } | null> {
    const [row] = await this.sql<{ first: string | null; last: string | null }[]>`
      SELECT min(seq) AS first, max(seq) AS last FROM ledger_entries WHERE recorded_at >= ${from} AND recorded_at < ${to}`;
    let first = row?.first ? Number(row.first) : Infinity;
    let last = row?.last ? Number(row.last) : -Infinity;
    // Segments whose months overlap the range: their entries are read to find the exact seqs.
    for (const segment of await this.archive.archived()) {
      if (segment.tier === 'expired' || segment.rangeTo <= from || segment.rangeFrom >= to) continue;
      for (const e of await this.archive.load(segment)) {
        const at = Date.parse(e.entry.recorded_at);
        if (at < from.getTime() || at >= to.getTime()) continue;
        first = Math.min(first, e.entry.seq);
        last = Math.max(last, e.entry.seq);
      }
    }
    return Number.isFinite(first) ? { first, last } : null;
  }

  /** The last seq recorded before `at` (0 when there is none): where an empty time range sits in the log. */
  async lastSeqBefore(at: Date): Promise<number> {
    const [row] = await this.sql<{ last: string | null }[]>`SELECT max(seq) AS last FROM ledger_entries WHERE recorded_at < ${at}`;
    let last = row?.last ? Number(row.last) : 0;
    for (const segment of await this.archive.archived()) {
      if (segment.lastSeq <= last || segment.rangeFrom >= at) continue;
      if (segment.rangeTo <= at) {
        last = segment.lastSeq;
        continue;
      }
      // An expired segment's entries are gone; its months end long before any range still exportable.
      if (segment.tier === 'expired') continue;
      for (const e of await this.archive.load(segment)) if (Date.parse(e.entry.recorded_at) < at.getTime()) last = Math.max(last, e.entry.seq);
    }
    return last;
  }

  async addCheckpoint(c: StoredCheckpoint): Promise<void> {
    await this.sql`INSERT INTO ledger_checkpoints (size, root, note, previous_size, consistency, created_at, leader_epoch)
      VALUES (${c.size}, ${c.root}, ${c.note}, ${c.previousSize}, ${Buffer.concat(c.consistency)}, ${c.createdAt}, ${this.leaderEpoch}::bigint)`;
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    const [row] = await this.sql`SELECT * FROM ledger_checkpoints ORDER BY size DESC LIMIT 1`;
    return row ? toCheckpoint(row) : null;
  }

  /** Checkpoints with size in [fromSize, toSize], oldest first, at most `limit`. */
  async checkpoints(fromSize = 0, toSize = Number.MAX_SAFE_INTEGER, limit = Number.MAX_SAFE_INTEGER): Promise<StoredCheckpoint[]> {
    return (await this.sql`SELECT * FROM ledger_checkpoints WHERE size BETWEEN ${fromSize} AND ${toSize} ORDER BY size LIMIT ${limit}`).map(toCheckpoint);
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 2 });
  }
}

function toCheckpoint(row: Record<string, unknown>): StoredCheckpoint {
  return {
    size: Number(row.size),
    root: row.root as Buffer,
    note: row.note as string,
    previousSize: row.previous_size === null ? null : Number(row.previous_size),
    consistency: splitHashes(row.consistency as Buffer),
    createdAt: row.created_at as Date,
  };
}

function splitHashes(joined: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < joined.length; i += 32) out.push(joined.subarray(i, i + 32));
  return out;
}
