import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  encodeSegmentData,
  leavesFile,
  MerkleTree,
  readSegment,
  SEGMENT_FORMAT,
  sha256Hex,
  type NoteVerifier,
  type SegmentEntry,
  type SegmentManifest,
} from '@ctp/ledger-core';
import { ledgerRetentionRuns, ledgerTierEntries, registerLedgerMetrics } from '@ctp/telemetry';
import type { LedgerStore } from '../store';
import { readSegmentFiles, segmentFiles, toSegmentRow, type SegmentRow } from './archive';
import { ensurePartitions, hotPartitions, type HotPartition } from './partitions';

export interface RetentionPolicy {
  /** Entries stay in PostgreSQL until their whole month is older than this... */
  hotDays: number;
  /** ...then in warm segments until the month is older than this... */
  warmDays: number;
  /** ...then in cold segments until the month is older than this, when their data is deleted. */
  coldDays: number;
  warmDir: string;
  coldDir: string;
  /** Most entries in one segment file (default 50,000): bounds the memory of sealing and of reading one entry. */
  segmentEntries?: number;
  /** gzip levels: warm favours speed, cold size. */
  warmLevel?: number;
  coldLevel?: number;
}

/** Steps of the job, in order for one segment; a crash after any of them is resumed by the next run. */
export type RetentionStep =
  | 'planned'
  | 'written'
  | 'verified'
  | 'dropped'
  | 'cold_written'
  | 'cold_cataloged'
  | 'warm_removed'
  | 'leaves_written'
  | 'expired'
  | 'data_removed';

export interface RetentionOptions extends RetentionPolicy {
  store: LedgerStore;
  origin: string;
  /** Checkpoint verifier keys: every segment's checkpoint signature is checked against them before a partition is dropped. */
  verifiers: NoteVerifier[];
  /** The job's clock (tests travel in time with it). */
  now?: Date;
  log?: (message: string, fields: Record<string, unknown>) => void;
  /** Called after each completed step; throwing from it stops the job there (tests simulate crashes with it). */
  afterStep?: (step: RetentionStep, segment: string) => void;
}

export interface RetentionReport {
  partitionsCreated: string[];
  sealed: string[];
  movedToCold: string[];
  expired: string[];
  skipped: { partition: string; reason: string }[];
  tiers: Record<'hot' | 'warm' | 'cold' | 'expired', number>;
}

const DAY_MS = 86_400_000;
const b64 = (h: Buffer) => h.toString('base64');

/** Writes a file so it is either absent or complete: temporary file, fsync, rename, fsync of the directory. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const file = await open(tmp, 'w', 0o640);
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * Moves ledger data between tiers (docs/ledger-tiers.md). Every step is recorded
 * in ledger_segments or is a file written atomically, and every step first checks
 * whether it was already done, so the job is idempotent (a second run is a no-op)
 * and resumable (a run after a crash continues where it stopped, losing and
 * duplicating nothing). A hot partition is dropped (a whole-table DROP, by the
 * table owner; never a row DELETE) only after its segment was written, read back
 * and verified against a signed checkpoint, in the same transaction that records
 * the segment as warm. Entries, hashes and proofs never change: only where the
 * bytes live and how they are compressed.
 */
export async function runRetention(options: RetentionOptions): Promise<RetentionReport> {
  registerLedgerMetrics();
  try {
    const report = await new RetentionJob(options).run();
    ledgerRetentionRuns.inc({ outcome: 'ok' });
    return report;
  } catch (error) {
    ledgerRetentionRuns.inc({ outcome: 'error' });
    throw error;
  }
}

class RetentionJob {
  private readonly now: Date;
  private readonly sql;
  private tree: MerkleTree | undefined;
  private lastFailure = '';
  private readonly report: RetentionReport = { partitionsCreated: [], sealed: [], movedToCold: [], expired: [], skipped: [], tiers: { hot: 0, warm: 0, cold: 0, expired: 0 } };

  constructor(private readonly o: RetentionOptions) {
    if (!(o.hotDays <= o.warmDays && o.warmDays <= o.coldDays)) throw new Error('retention policy: hot days <= warm days <= cold days is required');
    this.now = o.now ?? new Date();
    this.sql = o.store.sql;
  }

  private log(message: string, fields: Record<string, unknown> = {}): void {
    this.o.log?.(message, fields);
  }

  private step(step: RetentionStep, segment: string): void {
    this.log(`retention: ${step}`, { segment });
    this.o.afterStep?.(step, segment);
  }

  private before(days: number): Date {
    return new Date(this.now.getTime() - days * DAY_MS);
  }

  async run(): Promise<RetentionReport> {
    this.report.partitionsCreated = await ensurePartitions(this.sql, this.now, 3);
    for (const partition of await hotPartitions(this.sql)) {
      const [planned] = await this.sql`SELECT 1 FROM ledger_segments WHERE partition_name = ${partition.name} AND tier = 'sealing'`;
      if (planned || partition.to <= this.before(this.o.hotDays)) await this.seal(partition);
    }
    for (const row of await this.segments('warm')) if (row.rangeTo <= this.before(this.o.warmDays)) await this.toCold(row);
    for (const row of await this.segments('cold')) if (row.rangeTo <= this.before(this.o.coldDays)) await this.expire(row);
    await this.cleanUp();
    await this.countTiers();
    return this.report;
  }

  private async segments(tier: SegmentRow['tier']): Promise<SegmentRow[]> {
    return (await this.sql`SELECT * FROM ledger_segments WHERE tier = ${tier} ORDER BY first_seq`).map(toSegmentRow);
  }

  private skip(partition: string, reason: string): void {
    this.report.skipped.push({ partition, reason });
    this.log('retention: partition stays hot', { segment: partition, reason });
  }

  /** Hot -> warm: plan, write, verify, drop. */
  private async seal(partition: HotPartition): Promise<void> {
    const table = this.sql(partition.name);
    const [stats] = await this.sql<{ n: string; first: string | null; last: string | null }[]>`SELECT count(*) AS n, min(seq) AS first, max(seq) AS last FROM ${table}`;
    const count = Number(stats!.n);
    if (count === 0) {
      // An empty month: nothing to seal. Dropping it needs no segment.
      await this.sql`DROP TABLE ${table}`;
      this.log('retention: dropped an empty partition', { segment: partition.name });
      return;
    }
    const first = Number(stats!.first);
    const last = Number(stats!.last);
    const stale = (await this.sql`SELECT * FROM ledger_segments WHERE partition_name = ${partition.name} AND tier = 'sealing' ORDER BY part`).map(toSegmentRow);
    const segmentSize = Math.max(1, this.o.segmentEntries ?? 50_000);
    if (stale.length > 0 && (stale[0]!.firstSeq !== first || Math.max(...stale.map((r) => r.lastSeq)) !== last || stale.length !== Math.ceil(count / segmentSize))) {
      // The partition changed after an interrupted run planned it (an entry arrived late,
      // with a server time that far back; or the segment size setting changed). Nothing was dropped, every entry is still in the
      // partition: forget the stale plan and its files, and decide afresh.
      this.log('retention: the partition changed since it was planned; planning it again', { segment: partition.name });
      await this.sql`DELETE FROM ledger_segments WHERE partition_name = ${partition.name} AND tier = 'sealing'`;
      for (const row of stale) await removeSegmentFiles(row.path, ['data', 'manifest']);
    }
    if (last >= (await this.o.store.size())) return this.skip(partition.name, 'it holds the newest entry, which stays hot');
    if (last - first + 1 !== count) return this.skip(partition.name, `seq ${first}..${last} is not contiguous in it`);
    const [interleaved] = await this.sql`SELECT 1 FROM ledger_entries WHERE (recorded_at >= ${partition.to} AND seq <= ${last}) OR (recorded_at < ${partition.from} AND seq >= ${first}) LIMIT 1`;
    if (interleaved) return this.skip(partition.name, 'its seq range interleaves with another month (the server clock went back)');
    const checkpoint = await this.o.store.latestCheckpoint();
    if (!checkpoint || checkpoint.size < last) return this.skip(partition.name, 'not yet covered by a signed checkpoint');
    // The month is sealed into segments of at most segmentEntries entries, so no step
    // (and no later read) needs more than one segment's entries in memory.
    const parts: { part: number; first: number; last: number }[] = [];
    for (let f = first, part = 0; f <= last; f += segmentSize, part++) parts.push({ part, first: f, last: Math.min(last, f + segmentSize - 1) });
    const ends = await this.sql<{ seq: string; entry_hash: Buffer }[]>`SELECT seq, entry_hash FROM ${table} WHERE seq = ANY(${parts.map((p) => p.last)}::bigint[]) ORDER BY seq`;
    const hashAt = new Map(ends.map((r) => [Number(r.seq), r.entry_hash]));
    let prev = await this.o.store.hashBefore(first);
    const plan = parts.map(({ part, first: f, last: l }) => {
      const row = { part, first: f, last: l, prev, lastHash: hashAt.get(l)!, path: resolve(this.o.warmDir, `${partition.name}.${String(part).padStart(4, '0')}.manifest.json`) };
      prev = row.lastHash;
      return row;
    });
    await this.sql.begin(async (tx) => {
      for (const r of plan) {
        await tx`
          INSERT INTO ledger_segments (first_seq, last_seq, partition_name, part, range_from, range_to, prev_entry_hash, last_entry_hash, tier, path)
          VALUES (${r.first}, ${r.last}, ${partition.name}, ${r.part}, ${partition.from}, ${partition.to}, ${r.prev}, ${r.lastHash}, 'sealing', ${r.path})
          ON CONFLICT (partition_name, part) DO NOTHING`;
      }
    });
    const planned = (await this.sql`SELECT * FROM ledger_segments WHERE partition_name = ${partition.name} ORDER BY part`).map(toSegmentRow);
    const matches =
      planned.length === plan.length &&
      planned.every((row, i) => row.tier === 'sealing' && row.firstSeq === plan[i]!.first && row.lastSeq === plan[i]!.last && row.lastEntryHash.equals(plan[i]!.lastHash) && row.prevEntryHash.equals(plan[i]!.prev));
    if (!matches) throw new Error(`segment plan for ${partition.name} does not match the partition any more; refusing to continue`);
    this.step('planned', partition.name);

    const sealed: SegmentManifest[] = [];
    for (const row of planned) {
      const name = basename(row.path).replace(/\.manifest\.json$/, '');
      let segment = await this.verified(row);
      if (!segment) {
        const canonicals = (await this.sql<{ canonical: Buffer }[]>`SELECT canonical FROM ${table} WHERE seq BETWEEN ${row.firstSeq} AND ${row.lastSeq} ORDER BY seq`).map((r) => r.canonical);
        const tree = await this.merkleTree(checkpoint.size, checkpoint.root);
        const data = encodeSegmentData(canonicals, this.o.warmLevel ?? 6);
        const manifest: SegmentManifest = {
          format: SEGMENT_FORMAT,
          origin: this.o.origin,
          name,
          partition: partition.name,
          tier: 'warm',
          range: { from: partition.from.toISOString(), to: partition.to.toISOString() },
          first_seq: row.firstSeq,
          last_seq: row.lastSeq,
          count: canonicals.length,
          prev_entry_hash: b64(row.prevEntryHash),
          last_entry_hash: b64(row.lastEntryHash),
          frontier: tree.frontier(row.firstSeq - 1).map(b64),
          checkpoint: { size: checkpoint.size, note: checkpoint.note },
          range_consistency: tree.consistencyProof(row.lastSeq, checkpoint.size).map(b64),
          data: { file: basename(segmentFiles(row.path).data), encoding: 'gzip', level: this.o.warmLevel ?? 6, bytes: data.length, sha256: sha256Hex(data) },
          sealed_at: this.now.toISOString(),
        };
        await writeFileAtomic(segmentFiles(row.path).data, data);
        await writeFileAtomic(row.path, `${JSON.stringify(manifest, null, 2)}\n`);
        this.step('written', name);
        segment = await this.verified(row);
        if (!segment) throw new Error(`segment ${row.path} does not verify after writing: ${this.lastFailure}`);
      }
      sealed.push(segment.manifest);
      this.step('verified', name);
    }

    await this.sql.begin(async (tx) => {
      // The partition must still hold exactly what was sealed.
      const [again] = await tx<{ n: string; last: string; hash: Buffer | null }[]>`
        SELECT count(*) AS n, max(seq) AS last, (SELECT entry_hash FROM ${tx(partition.name)} WHERE seq = ${last}) AS hash FROM ${tx(partition.name)}`;
      if (Number(again!.n) !== count || Number(again!.last) !== last || !again!.hash?.equals(planned[planned.length - 1]!.lastEntryHash)) {
        throw new Error(`partition ${partition.name} changed while it was being sealed; not dropping it`);
      }
      await tx`DROP TABLE ${tx(partition.name)}`;
      for (const manifest of sealed) {
        await tx`UPDATE ledger_segments SET tier = 'warm', sha256 = ${manifest.data.sha256}, manifest = ${tx.json(manifest as never)},
          sealed_at = ${this.now}, moved_at = ${this.now} WHERE first_seq = ${manifest.first_seq} AND tier = 'sealing'`;
      }
    });
    this.step('dropped', partition.name);
    this.report.sealed.push(partition.name);
  }

  /** The segment at row.path if it exists, verifies (signature included) and matches the catalog row; else null. */
  private async verified(row: SegmentRow, path = row.path): Promise<{ manifest: SegmentManifest; entries: SegmentEntry[] } | null> {
    let files;
    try {
      files = await readSegmentFiles(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      const entries = readSegment(files.manifest, files.data, { verifiers: this.o.verifiers });
      const m = files.manifest;
      const matches = m.first_seq === row.firstSeq && m.last_seq === row.lastSeq && m.prev_entry_hash === b64(row.prevEntryHash) && m.last_entry_hash === b64(row.lastEntryHash) && m.origin === this.o.origin;
      if (!matches) {
        this.lastFailure = 'it does not match the catalog';
        this.log('retention: a segment file does not match the catalog; rewriting it', { path });
        return null;
      }
      return { manifest: m, entries };
    } catch (error) {
      this.lastFailure = (error as Error).message;
      this.log('retention: a segment file does not verify; rewriting it', { path, error: this.lastFailure });
      return null;
    }
  }

  /** The Merkle tree of the whole ledger (built once per run), checked against the checkpoint the segments are proven to. */
  private async merkleTree(size: number, root: Buffer): Promise<MerkleTree> {
    if (!this.tree) {
      const tree = new MerkleTree();
      for await (const page of this.o.store.leafHashes()) for (const leaf of page) tree.append(leaf);
      this.tree = tree;
    }
    if (this.tree.size < size || !this.tree.root(size).equals(root)) throw new Error(`the ledger does not match signed checkpoint ${size}; not sealing`);
    return this.tree;
  }

  /** Warm -> cold: recompress into the cold directory, verify, switch the catalog, remove the warm files. */
  private async toCold(row: SegmentRow): Promise<void> {
    const name = segmentName(row);
    const coldPath = resolve(this.o.coldDir, basename(row.path));
    let cold = coldPath === row.path ? null : await this.verified(row, coldPath);
    if (!cold) {
      const warm = await this.verified(row);
      if (!warm) throw new Error(`warm segment ${row.path} is missing or does not verify`);
      const level = this.o.coldLevel ?? 9;
      const data = encodeSegmentData(
        warm.entries.map((e) => e.canonical),
        level,
      );
      const manifest: SegmentManifest = { ...warm.manifest, tier: 'cold', data: { ...warm.manifest.data, level, bytes: data.length, sha256: sha256Hex(data) } };
      await writeFileAtomic(segmentFiles(coldPath).data, data);
      await writeFileAtomic(coldPath, `${JSON.stringify(manifest, null, 2)}\n`);
      cold = await this.verified(row, coldPath);
      if (!cold) throw new Error(`cold segment ${coldPath} does not verify after writing: ${this.lastFailure}`);
    }
    this.step('cold_written', name);
    await this.sql`UPDATE ledger_segments SET tier = 'cold', path = ${coldPath}, sha256 = ${cold.manifest.data.sha256},
      manifest = ${this.sql.json(cold.manifest as never)}, moved_at = ${this.now} WHERE first_seq = ${row.firstSeq} AND tier = 'warm'`;
    this.step('cold_cataloged', name);
    if (coldPath !== row.path) await removeSegmentFiles(row.path, ['data', 'manifest']);
    this.step('warm_removed', name);
    this.report.movedToCold.push(name);
  }

  /**
   * Cold -> expired (retention ended): the leaf hashes are kept (32 bytes an entry,
   * no personal data) so the Merkle tree and the proofs of later entries still
   * work, the manifest is kept as the record, and the entry data is deleted.
   */
  private async expire(row: SegmentRow): Promise<void> {
    const name = segmentName(row);
    const cold = await this.verified(row);
    if (!cold) throw new Error(`cold segment ${row.path} is missing or does not verify`);
    await writeFileAtomic(segmentFiles(row.path).leaves, leavesFile(cold.entries));
    this.step('leaves_written', name);
    await this.sql`UPDATE ledger_segments SET tier = 'expired', expired_at = ${this.now} WHERE first_seq = ${row.firstSeq} AND tier = 'cold'`;
    this.step('expired', name);
    await removeSegmentFiles(row.path, ['data']);
    this.step('data_removed', name);
    this.report.expired.push(name);
  }

  /** Finishes removals a crash interrupted: warm copies of cold segments, data of expired ones. */
  private async cleanUp(): Promise<void> {
    for (const row of await this.segments('cold')) {
      const warmPath = join(resolve(this.o.warmDir), basename(row.path));
      if (warmPath !== row.path) await removeSegmentFiles(warmPath, ['data', 'manifest']);
    }
    for (const row of await this.segments('expired')) await removeSegmentFiles(row.path, ['data']);
  }

  private async countTiers(): Promise<void> {
    const rows = await this.sql<{ tier: string; n: string }[]>`SELECT tier, sum(last_seq - first_seq + 1) AS n FROM ledger_segments WHERE tier <> 'sealing' GROUP BY tier`;
    const [archived] = await this.sql<{ last: string | null }[]>`SELECT max(last_seq) AS last FROM ledger_segments WHERE tier <> 'sealing'`;
    const tiers = this.report.tiers;
    for (const r of rows) tiers[r.tier as 'warm' | 'cold' | 'expired'] = Number(r.n);
    tiers.hot = (await this.o.store.size()) - Number(archived?.last ?? 0);
    for (const [tier, n] of Object.entries(tiers)) ledgerTierEntries.set({ tier }, n);
    this.log('retention: done', { ...tiers, sealed: this.report.sealed.length, moved_to_cold: this.report.movedToCold.length, expired: this.report.expired.length });
  }
}

const segmentName = (row: SegmentRow) => basename(row.path).replace(/\.manifest\.json$/, '');

async function removeSegmentFiles(manifestPath: string, which: ('data' | 'manifest' | 'leaves')[]): Promise<void> {
  const files = segmentFiles(manifestPath);
  for (const w of which) await rm(files[w], { force: true });
}
