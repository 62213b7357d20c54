import type { Sql } from 'postgres';

/** The tables the append-only guards protect; the writer must not own, alter or empty any of them. */
const LEDGER_TABLES = ['ledger_entries', 'ledger_checkpoints', 'ledger_anchors', 'ledger_segments', 'ledger_schema_migrations'];

/**
 * What the connected role could do beyond appending: be or become a superuser (it
 * could switch the triggers off with session_replication_role), own a ledger table or
 * the schema (disable triggers, detach or drop a partition), hold UPDATE, DELETE,
 * TRUNCATE or TRIGGER on a ledger table, or INSERT into a partition directly (past the
 * chain check on the parent). Empty for a role set up as docs/security.md describes.
 */
export async function writerRoleProblems(sql: Sql): Promise<string[]> {
  const [role] = await sql<{ name: string; superuser: boolean; schema_owner: boolean }[]>`
    SELECT current_user AS name,
      EXISTS (SELECT 1 FROM pg_roles s WHERE s.rolsuper AND pg_has_role(current_user, s.oid, 'MEMBER')) AS superuser,
      pg_has_role(current_user, (SELECT nspowner FROM pg_namespace WHERE nspname = current_schema()), 'MEMBER') AS schema_owner`;
  const problems: string[] = [];
  if (role!.superuser) problems.push(`${role!.name} is (or can become) a superuser`);
  if (role!.schema_owner) problems.push(`${role!.name} owns the schema`);
  const tables = await sql<{ name: string; owner: boolean; alter: boolean; partition_insert: boolean }[]>`
    SELECT c.relname AS name,
      pg_has_role(current_user, c.relowner, 'MEMBER') AS owner,
      has_table_privilege(c.oid, 'UPDATE') OR has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE') OR has_table_privilege(c.oid, 'TRIGGER') AS alter,
      EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = c.oid AND has_table_privilege(i.inhrelid, 'INSERT')) AS partition_insert
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relname IN ${sql(LEDGER_TABLES)}`;
  for (const t of tables) {
    if (t.owner) problems.push(`${role!.name} owns ${t.name}`);
    else if (t.alter) problems.push(`${role!.name} may UPDATE, DELETE, TRUNCATE or add triggers to ${t.name}`);
    if (t.partition_insert) problems.push(`${role!.name} may INSERT into a partition of ${t.name} directly`);
  }
  return problems;
}

/**
 * Refuses to append as a role that could get around the append-only guards, unless in
 * dev mode (`ctp up` on its embedded database, or CTP_DEV_MODE=true).
 */
export async function assertWriterRole(sql: Sql, options: { devMode: boolean }): Promise<void> {
  if (options.devMode) return;
  const problems = await writerRoleProblems(sql);
  if (problems.length === 0) return;
  throw new Error(
    `refusing to write the ledger as this database role: ${problems.join('; ')}. Connect CTP_DATABASE_URL as a role that only has ` +
      'ctp_ledger_writer (INSERT and SELECT) and run migrations as the owner through CTP_DATABASE_OWNER_URL (docs/security.md, "Ledger roles"); ' +
      'CTP_DEV_MODE=true skips this check',
  );
}
