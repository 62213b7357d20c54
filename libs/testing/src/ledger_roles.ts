import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

export interface LedgerRoles {
  /** Connects as the owner of the ledger's schema and tables (runs the migrations). */
  ownerUrl: string;
  /** Connects as the writer: a login role that only has ctp_ledger_writer (INSERT and SELECT). */
  writerUrl: string;
  owner: string;
  writer: string;
  /** Drops the schema and both roles. */
  drop(): Promise<void>;
}

const as = (url: string, user: string) => {
  const u = new URL(url);
  u.username = user;
  u.password = '';
  return u.toString();
};

/**
 * The two database roles of a production ledger (docs/security.md, "Ledger roles"),
 * made as an administrator connected through `adminUrl`: an owner with CREATE on the
 * database, and a writer login that is a member of ctp_ledger_writer only. Role names
 * are unique per call, because roles are cluster-wide and suites share the server.
 */
export async function ledgerRoles(adminUrl: string, schema: string): Promise<LedgerRoles> {
  const id = randomBytes(4).toString('hex');
  const owner = `ctp_owner_${id}`;
  const writer = `ctp_writer_${id}`;
  const sql = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  try {
    const [{ db }] = (await sql`SELECT current_database() AS db`) as unknown as [{ db: string }];
    await sql`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ctp_ledger_writer') THEN CREATE ROLE ctp_ledger_writer NOLOGIN; END IF; END $$`.catch((error: { code?: string }) => {
      if (error.code !== '23505' && error.code !== '42710') throw error;
    });
    await sql.unsafe(`CREATE ROLE ${owner} LOGIN`);
    await sql.unsafe(`GRANT CREATE ON DATABASE ${db} TO ${owner}`);
    await sql.unsafe(`CREATE ROLE ${writer} LOGIN IN ROLE ctp_ledger_writer`);
  } finally {
    await sql.end({ timeout: 2 });
  }
  return {
    ownerUrl: as(adminUrl, owner),
    writerUrl: as(adminUrl, writer),
    owner,
    writer,
    drop: async () => {
      const admin = postgres(adminUrl, { max: 1, onnotice: () => undefined });
      try {
        const [{ db }] = (await admin`SELECT current_database() AS db`) as unknown as [{ db: string }];
        await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.unsafe(`DROP OWNED BY ${owner}, ${writer}`);
        await admin.unsafe(`REVOKE CREATE ON DATABASE ${db} FROM ${owner}`);
        await admin.unsafe(`DROP ROLE ${writer}`);
        await admin.unsafe(`DROP ROLE ${owner}`);
      } finally {
        await admin.end({ timeout: 2 });
      }
    },
  };
}
