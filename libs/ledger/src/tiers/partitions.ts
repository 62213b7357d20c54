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

/**
 * Creates the hot partitions for the months from `from` to `monthsAhead` months
 * later (idempotent; months already sealed into segments are skipped). Needs the
 * owner of ledger_entries (DDL), not the service role.
 */
export async function ensurePartitions(sql: Sql, from: Date, monthsAhead: number): Promise<string[]> {
  const created: string[] = [];
  const ensure = (at: Date) => sql<{ name: string | null }[]>`SELECT ledger_ensure_partition(${at}) AS name`;
  for (let i = 0; i <= monthsAhead; i++) {
    const at = monthStart(from, i);
    // Two processes (HA writers starting together) may create the same month at once: the loser's
    // CREATE fails (42P07, or 23505 on the catalog), and asking again finds the winner's partition.
    const [row] = await ensure(at).catch((error: { code?: string }) => {
      if (error.code !== '42P07' && error.code !== '23505') throw error;
      return ensure(at);
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
