import postgres from 'postgres';
import { PG_URL } from '@ctp/testing';

/**
 * postgres.js 3.4 wrote to a connection whose socket it had already dropped, from a timer:
 * an uncaught TypeError that ended the process (porsager/postgres#1208; a PostgreSQL restart
 * under a running ledger writer hit it). tools/patches/postgres-closed-socket.cjs, run on
 * install, makes those queries fail with CONNECTION_CLOSED instead. Without it this spec dies
 * with "Cannot read properties of null (reading 'write')".
 */
describe('postgres.js on a connection whose backend went away', () => {
  const sql = postgres(PG_URL, { max: 2, onnotice: () => undefined });
  const admin = postgres(PG_URL, { max: 1, onnotice: () => undefined });
  afterAll(async () => {
    await sql.end({ timeout: 2 });
    await admin.end({ timeout: 2 });
  });

  it('fails the queries with CONNECTION_CLOSED, and the pool recovers', async () => {
    const reserved = await sql.reserve();
    const [row] = await reserved<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    await admin`SELECT pg_terminate_backend(${row!.pid})`;
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (let i = 0; i < 2; i++) await expect(reserved`SELECT 1`).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
    reserved.release();
    // A new connection serves the next query (retrying once: the pool may hand out the closed one first).
    const next = await sql`SELECT 1 AS one`.catch(() => sql`SELECT 1 AS one`);
    expect(next[0]).toEqual({ one: 1 });
  });
});
