import { readFile } from 'node:fs/promises';
import type { Sql } from 'postgres';
import { readSegment, type Hash, type SegmentEntry, type SegmentManifest } from '@ctp/ledger-core';

export type SegmentState = 'sealing' | 'warm' | 'cold' | 'expired';

/** A row of ledger_segments: a sealed (or being sealed) segment and where it is. */
export interface SegmentRow {
  firstSeq: number;
  lastSeq: number;
  partitionName: string;
  part: number;
  rangeFrom: Date;
  rangeTo: Date;
  prevEntryHash: Hash;
  lastEntryHash: Hash;
  tier: SegmentState;
  /** The manifest file; the data file and, once expired, the leaf-hash file sit next to it. */
  path: string;
  sha256: string | null;
  manifest: SegmentManifest | null;
}

export function toSegmentRow(r: Record<string, unknown>): SegmentRow {
  return {
    firstSeq: Number(r.first_seq),
    lastSeq: Number(r.last_seq),
    partitionName: r.partition_name as string,
    part: Number(r.part),
    rangeFrom: r.range_from as Date,
    rangeTo: r.range_to as Date,
    prevEntryHash: r.prev_entry_hash as Buffer,
    lastEntryHash: r.last_entry_hash as Buffer,
    tier: r.tier as SegmentState,
    path: r.path as string,
    sha256: (r.sha256 as string | null) ?? null,
    manifest: (r.manifest as SegmentManifest | null) ?? null,
  };
}

/** File names of a segment, from its manifest path. */
export const segmentFiles = (manifestPath: string) => {
  const base = manifestPath.replace(/\.manifest\.json$/, '');
  return { manifest: manifestPath, data: `${base}.jsonl.gz`, leaves: `${base}.leaves` };
};

/**
 * Reads entries that left the hot tier, from sealed segment files. Each file read is
 * checked against the digest in the catalog and fully re-verified (chain, Merkle
 * root against the manifest's checkpoint) before anything from it is served; the
 * last few decoded segments are cached.
 */
export class SegmentArchive {
  private readonly cache = new Map<string, Promise<SegmentEntry[]>>();

  constructor(
    private readonly sql: Sql,
    private readonly cacheSize = 2,
  ) {}

  /** Segments whose entries are no longer in the hot tier, by seq. */
  async archived(): Promise<SegmentRow[]> {
    const rows = await this.sql`SELECT * FROM ledger_segments WHERE tier <> 'sealing' ORDER BY first_seq`;
    return rows.map(toSegmentRow);
  }

  /** Entries with from <= seq <= to that are in warm or cold segments (expired ones have none). */
  async entries(from: number, to: number): Promise<SegmentEntry[]> {
    const rows = await this.sql`SELECT * FROM ledger_segments WHERE tier IN ('warm', 'cold') AND last_seq >= ${from} AND first_seq <= ${to} ORDER BY first_seq`;
    const out: SegmentEntry[] = [];
    for (const row of rows.map(toSegmentRow)) {
      const entries = await this.load(row);
      out.push(...entries.slice(Math.max(0, from - row.firstSeq), Math.max(0, to - row.firstSeq + 1)));
    }
    return out;
  }

  /** The entry_hash of `seq` from the catalog or a segment, or null. */
  async entryHash(seq: number): Promise<Hash | null> {
    const [row] = await this.sql`SELECT last_entry_hash FROM ledger_segments WHERE tier <> 'sealing' AND last_seq = ${seq}`;
    if (row) return row.last_entry_hash as Buffer;
    const [entry] = await this.entries(seq, seq);
    return entry?.entryHash ?? null;
  }

  /** Leaf hashes of an archived segment: decoded from its data, or, once expired, from the leaf-hash file. */
  async leafHashes(row: SegmentRow): Promise<Hash[]> {
    if (row.tier !== 'expired') return (await this.load(row)).map((e) => e.leafHash);
    const raw = await readFile(segmentFiles(row.path).leaves);
    if (raw.length !== (row.lastSeq - row.firstSeq + 1) * 32) throw new Error(`${segmentFiles(row.path).leaves}: wrong length for ${row.lastSeq - row.firstSeq + 1} leaves`);
    const out: Hash[] = [];
    for (let i = 0; i < raw.length; i += 32) out.push(raw.subarray(i, i + 32));
    return out;
  }

  /** Decodes and verifies a warm or cold segment (cached). */
  load(row: SegmentRow): Promise<SegmentEntry[]> {
    const key = `${row.path}#${row.sha256}`;
    let loaded = this.cache.get(key);
    if (!loaded) {
      loaded = readSegmentFiles(row.path).then(({ manifest, data }) => {
        if (manifest.data.sha256 !== row.sha256 || manifest.first_seq !== row.firstSeq || manifest.last_seq !== row.lastSeq) {
          throw new Error(`segment ${row.path} does not match the catalog`);
        }
        return readSegment(manifest, data);
      });
      loaded.catch(() => this.cache.delete(key));
      this.cache.set(key, loaded);
      while (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    }
    return loaded;
  }
}

export async function readSegmentFiles(manifestPath: string): Promise<{ manifest: SegmentManifest; data: Buffer }> {
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as SegmentManifest;
  const data = await readFile(segmentFiles(manifestPath).data);
  return { manifest, data };
}
