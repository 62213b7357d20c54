import type { Sql } from 'postgres';

/** A monthly hot partition of ledger_entries: entries recorded in [from, to) (UTC). */
export interface HotPartition {
  name: string;
  from: Date;
  to: Date;
}

const NAME = /^ledger_entries_p(\d{4})(\d{2})$/;

export function monthStart(at: Date, addMonths = 0): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + addMonths, 1));
}

export function partitionName(at: Date): string {
  return `ledger_entries_p${at.getUTCFullYear()}${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
}

const PARTITION_LOCK = 4_271_300_004;

/**
 * Creates the hot partitions for the months from `from` to `monthsAhead` months
 * later (idempotent; months already sealed into segments are skipped). Needs the
 * owner of ledger_entries (DDL), not the service role.
 */
export async function ensurePartitions(sql: Sql, from: Date, monthsAhead: number): Promise<string[]> {
  const created: string[] = [];
  for (let i = 0; i <= monthsAhead; i++) {
    // One process at a time (HA writers start together): the function checks, then creates.
    const [row] = await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${PARTITION_LOCK})`;
      return tx<{ name: string | null }[]>`SELECT ledger_ensure_partition(${monthStart(from, i)}) AS name`;
    });
    if (row?.name) created.push(row.name);
  }
  return created;
}

/** The hot partitions in the current schema, oldest first. */
export async function hotPartitions(sql: Sql): Promise<HotPartition[]> {
  const rows = await sql<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      JOIN pg_class p ON p.oid = i.inhparent
      JOIN pg_namespace n ON n.oid = p.relnamespace
    WHERE p.relname = 'ledger_entries' AND n.nspname = current_schema()`;
  const out: HotPartition[] = [];
  for (const { name } of rows) {
    const m = NAME.exec(name);
    if (!m) continue;
    const from = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
    out.push({ name, from, to: monthStart(from, 1) });
  }
  return out.sort((a, b) => a.from.getTime() - b.from.getTime());
}
