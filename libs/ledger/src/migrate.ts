import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sql } from 'postgres';

const MIGRATIONS_DIR = join(__dirname, '..', 'migrations');
const MIGRATION_LOCK = 4_271_300_001;

const migrationFiles = () => readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{4}_.+\.sql$/.test(f)).sort();

/** The version of the newest migration this code knows. */
export const latestMigration = (): number => Number(migrationFiles().at(-1)?.slice(0, 4) ?? 0);

/** Throws unless every migration this code knows was applied (a writer that may not migrate checks this instead). */
export async function assertMigrated(sql: Sql): Promise<void> {
  const [row] = await sql<{ version: number | null }[]>`SELECT max(version) AS version FROM ledger_schema_migrations`;
  const version = row?.version ?? 0;
  if (version < latestMigration()) {
    throw new Error(`the ledger schema is at migration ${version}, this code needs ${latestMigration()}: run the migrations as the table owner (CTP_DATABASE_OWNER_URL)`);
  }
}

/** Applies the versioned SQL files in libs/ledger/migrations that are not applied yet, each in its own transaction. */
export async function migrate(sql: Sql): Promise<string[]> {
  await sql`CREATE TABLE IF NOT EXISTS ledger_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
  const applied: string[] = [];
  for (const file of migrationFiles()) {
    const version = Number(file.slice(0, 4));
    await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
      const done = await tx`SELECT 1 FROM ledger_schema_migrations WHERE version = ${version}`;
      if (done.length > 0) return;
      await tx.unsafe(readFileSync(join(MIGRATIONS_DIR, file), 'utf8'));
      await tx`INSERT INTO ledger_schema_migrations (version, name) VALUES (${version}, ${file})`;
      applied.push(file);
    });
  }
  return applied;
}
