import postgres, { type Sql } from 'postgres';
import { APPEND_LOCK } from './store';

/**
 * The session-level advisory lock only the leading ledger writer holds (0006_leader_epochs.sql),
 * in the two-key form (this class, hashtext(schema)): advisory locks are per database, so each
 * ledger schema sharing a database has a leader lock of its own.
 */
export const LEADER_LOCK_CLASS = 427_130_003;
/** SQLSTATE the fence raises (0006_leader_epochs.sql). */
export const FENCED_SQLSTATE = 'CTPLF';

/** True for the database's refusal of a batch or checkpoint stamped with an epoch that no longer leads. */
export const isFenced = (error: unknown): boolean => (error as { code?: unknown } | null)?.code === FENCED_SQLSTATE;

export interface LeaderLeaseOptions {
  /** The writer's database URL: the lease is a connection of its own to the same database. */
  url: string;
  schema: string;
  /** Names this writer in ledger_leader_epochs (e.g. the pod name). */
  holder: string;
  /**
   * The server drops the lease connection (and with it the lock) after this long without a
   * query from it (idle_session_timeout): a paused or partitioned leader loses the lease within
   * it, and a standby takes over within it plus one poll. Heartbeats run at a third of it.
   */
  leaseMs: number;
  /** How often a standby tries to take the lock (default leaseMs / 5). */
  pollMs?: number;
}

/**
 * The ledger writer's leader lease in PostgreSQL: a session-level advisory lock held on a
 * dedicated connection that the server drops when the holder stops talking (idle_session_timeout;
 * a dead process's socket closes at once). Holding the lock, the leader claims the next epoch
 * in ledger_leader_epochs; the database refuses entries and checkpoints stamped with any older
 * epoch (the fence), so a leader that lost the lease while paused cannot append when it wakes.
 */
export class LeaderLease {
  private readonly sql: Sql;
  private epochValue: number | null = null;
  private pid: number | null = null;
  private heartbeat: NodeJS.Timeout | undefined;
  private stopped = false;
  private lostListeners: ((reason: string) => void)[] = [];

  constructor(private readonly options: LeaderLeaseOptions) {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) throw new Error(`invalid schema name ${options.schema}`);
    this.sql = postgres(options.url, {
      max: 1,
      onnotice: () => undefined,
      connect_timeout: 5,
      // A session idle this long is closed by the server, which releases the lock: the lease's expiry.
      connection: { search_path: options.schema, application_name: 'ctp-ledger-leader', idle_session_timeout: options.leaseMs },
    });
  }

  /** The epoch this writer leads with, or null while it does not lead. */
  get epoch(): number | null {
    return this.epochValue;
  }

  /** Called once when a held lease is lost (the connection dropped, or a newer epoch exists). */
  onLost(listener: (reason: string) => void): void {
    this.lostListeners.push(listener);
  }

  /** Tries once to take the lock; on success claims the next epoch and starts the heartbeats. */
  async tryAcquire(): Promise<number | null> {
    if (this.epochValue !== null) return this.epochValue;
    const [row] = await this.sql<{ locked: boolean; pid: number }[]>`SELECT pg_try_advisory_lock(${LEADER_LOCK_CLASS}, hashtext(${this.options.schema})) AS locked, pg_backend_pid() AS pid`;
    if (!row?.locked) return null;
    try {
      const [claimed] = await this.sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${APPEND_LOCK})`;
        return tx<{ epoch: string }[]>`INSERT INTO ledger_leader_epochs (epoch, holder)
          SELECT coalesce(max(epoch), 0) + 1, ${this.options.holder} FROM ledger_leader_epochs RETURNING epoch`;
      });
      this.epochValue = Number(claimed!.epoch);
      this.pid = row.pid;
    } catch (error) {
      await this.sql`SELECT pg_advisory_unlock(${LEADER_LOCK_CLASS}, hashtext(${this.options.schema}))`.catch(() => undefined);
      throw error;
    }
    this.heartbeat = setInterval(() => void this.beat(), Math.max(50, Math.floor(this.options.leaseMs / 3)));
    this.heartbeat.unref();
    return this.epochValue;
  }

  /** Polls until this writer leads (or `stop` is called: then null). */
  async acquire(onError: (error: unknown) => void = () => undefined): Promise<number | null> {
    const pollMs = this.options.pollMs ?? Math.max(50, Math.floor(this.options.leaseMs / 5));
    while (!this.stopped) {
      try {
        const epoch = await this.tryAcquire();
        if (epoch !== null) return epoch;
      } catch (error) {
        onError(error);
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
    return null;
  }

  /**
   * One heartbeat: the same server session (a reconnect would be a new one, without the lock),
   * still holding the lock, and no newer epoch claimed. Anything else, or no answer, loses the lease.
   */
  private async beat(): Promise<void> {
    if (this.epochValue === null) return;
    try {
      const [row] = await this.sql<{ pid: number; held: boolean; newest: string | null }[]>`
        SELECT pg_backend_pid() AS pid,
               EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted AND classid = ${LEADER_LOCK_CLASS}::oid AND objid = hashtext(${this.options.schema})::oid AND objsubid = 2) AS held,
               (SELECT max(epoch) FROM ledger_leader_epochs) AS newest`;
      if (!row || row.pid !== this.pid || !row.held) return this.lose('the lease connection was dropped');
      if (Number(row.newest) !== this.epochValue) return this.lose(`epoch ${row.newest} was claimed`);
    } catch (error) {
      this.lose(`heartbeat failed: ${(error as Error).message}`);
    }
  }

  private lose(reason: string): void {
    if (this.epochValue === null) return;
    this.epochValue = null;
    this.pid = null;
    clearInterval(this.heartbeat);
    for (const listener of this.lostListeners) listener(reason);
  }

  /** Gives the lease up (the lock, if this session still holds it) without telling the listeners; `acquire` may follow. */
  async release(): Promise<void> {
    const held = this.epochValue !== null || this.pid !== null;
    this.epochValue = null;
    this.pid = null;
    clearInterval(this.heartbeat);
    if (held) await this.sql`SELECT pg_advisory_unlock(${LEADER_LOCK_CLASS}, hashtext(${this.options.schema}))`.catch(() => undefined);
  }

  /** Stops polling and heartbeats and closes the connection (releasing the lock if held). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    this.epochValue = null;
    await this.sql.end({ timeout: 2 });
  }
}
