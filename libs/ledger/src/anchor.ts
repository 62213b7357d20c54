import { readFileSync } from 'node:fs';
import type { Sql } from 'postgres';
import { certificatesFromPem, MAX_TIMESTAMP_BYTES, timestampRequest, verifyTimestampResponse, type VerifiedTimestamp } from '@ctp/ledger-core';
import type { Certificate } from 'pkijs';
import { ledgerAnchors, ledgerLastAnchor, registerLedgerMetrics } from '@ctp/telemetry';
import type { LedgerView } from './reader';
import type { LedgerStore, StoredCheckpoint } from './store';

/** An RFC 3161 timestamp token over a signed checkpoint note (table ledger_anchors). */
export interface StoredAnchor {
  checkpointSize: number;
  tsaUrl: string;
  /** DER CMS ContentInfo as the TSA returned it. */
  token: Buffer;
  genTime: Date;
  policy: string;
  serial: string;
  createdAt: Date;
}

function toAnchor(row: Record<string, unknown>): StoredAnchor {
  return {
    checkpointSize: Number(row.checkpoint_size),
    tsaUrl: row.tsa_url as string,
    token: row.token as Buffer,
    genTime: row.gen_time as Date,
    policy: row.policy as string,
    serial: row.serial as string,
    createdAt: row.created_at as Date,
  };
}

/** Stores an anchor; a second one for the same checkpoint is ignored (the table is append-only). */
export async function addAnchor(sql: Sql, a: StoredAnchor): Promise<void> {
  await sql`INSERT INTO ledger_anchors (checkpoint_size, tsa_url, token, gen_time, policy, serial, created_at)
    VALUES (${a.checkpointSize}, ${a.tsaUrl}, ${a.token}, ${a.genTime}, ${a.policy}, ${a.serial}, ${a.createdAt})
    ON CONFLICT (checkpoint_size) DO NOTHING`;
}

/** Anchors of checkpoints with size in [fromSize, toSize], oldest first, at most `limit`. */
export async function listAnchors(sql: Sql, fromSize = 0, toSize = Number.MAX_SAFE_INTEGER, limit = 1000): Promise<StoredAnchor[]> {
  return (await sql`SELECT * FROM ledger_anchors WHERE checkpoint_size BETWEEN ${fromSize} AND ${toSize} ORDER BY checkpoint_size LIMIT ${limit}`).map(toAnchor);
}

/** Like listAnchors, each with the signed note of its checkpoint. */
export async function listAnchorsWithNotes(sql: Sql, fromSize: number, toSize: number, limit = 1000): Promise<(StoredAnchor & { note: string })[]> {
  const rows = await sql`SELECT a.*, c.note FROM ledger_anchors a JOIN ledger_checkpoints c ON c.size = a.checkpoint_size
    WHERE a.checkpoint_size BETWEEN ${fromSize} AND ${toSize} ORDER BY a.checkpoint_size LIMIT ${limit}`;
  return rows.map((row) => ({ ...toAnchor(row), note: row.note as string }));
}

export async function latestAnchor(sql: Sql): Promise<StoredAnchor | null> {
  const [row] = await sql`SELECT * FROM ledger_anchors ORDER BY checkpoint_size DESC LIMIT 1`;
  return row ? toAnchor(row) : null;
}

export interface AnchorerOptions {
  store: LedgerStore;
  /** The latest signed checkpoint (the writer's `checkpointed`). */
  latest: () => StoredCheckpoint | null;
  tsaUrl: string;
  /** Roots the TSA certificate must chain to; a reply that does not is refused. */
  roots: Certificate[];
  /** Period between anchors (default one week). */
  intervalMs?: number;
  /** Backoff after a failure: starts here (default 5 s), doubles, at most maxRetryMs (default 1 h, or the interval if shorter). */
  retryMs?: number;
  maxRetryMs?: number;
  /** Time allowed for one TSA request (default 10 s). */
  timeoutMs?: number;
  onAnchor?: (anchor: StoredAnchor, result: VerifiedTimestamp) => void;
  onError?: (error: unknown, attempt: number, retryInMs: number) => void;
}

export const WEEK_MS = 7 * 24 * 3600 * 1000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Anchors the latest signed checkpoint with an RFC 3161 timestamp on a schedule.
 * It runs on its own timer, apart from appends and checkpoints: a TSA that is down
 * or replies badly costs retries (with exponential backoff), a log line and the
 * ctp_ledger_anchors_total{result="failed"} counter, never an append.
 */
export class Anchorer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private failures = 0;
  private stopped = true;

  constructor(private readonly options: AnchorerOptions) {
    if (options.roots.length === 0) throw new TypeError('anchoring needs the TSA root certificate(s) to verify replies against');
    registerLedgerMetrics();
  }

  get intervalMs(): number {
    return this.options.intervalMs ?? WEEK_MS;
  }

  /** Schedules the first anchor one interval after the last stored one (at once if there is none). */
  async start(): Promise<void> {
    this.stopped = false;
    const last = await latestAnchor(this.options.store.sql);
    if (last) ledgerLastAnchor.set(last.genTime.getTime() / 1000);
    this.schedule(last ? last.createdAt.getTime() + this.intervalMs - Date.now() : 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running.catch(() => undefined);
  }

  /**
   * Anchors the latest checkpoint now, unless it is anchored already (then returns
   * that anchor). Returns null while no checkpoint exists. Throws on TSA failure.
   */
  anchorNow(now = new Date()): Promise<StoredAnchor | null> {
    const run = this.running.then(() => this.anchorLatest(now));
    this.running = run.catch(() => undefined);
    return run;
  }

  private async anchorLatest(now: Date): Promise<StoredAnchor | null> {
    const checkpoint = this.options.latest();
    if (!checkpoint) return null;
    const { sql } = this.options.store;
    const [existing] = await listAnchors(sql, checkpoint.size, checkpoint.size);
    if (existing) return existing;
    const request = timestampRequest(checkpoint.note);
    let token: Buffer;
    let result: VerifiedTimestamp;
    try {
      ({ token, result } = await verifyTimestampResponse(await this.post(request.der), { note: checkpoint.note, nonce: request.nonce, roots: this.options.roots }));
    } catch (error) {
      ledgerAnchors.inc({ result: 'failed' });
      throw new Error(`anchoring checkpoint ${checkpoint.size} at ${this.options.tsaUrl} failed: ${(error as Error).message}`, { cause: error });
    }
    const anchor: StoredAnchor = { checkpointSize: checkpoint.size, tsaUrl: this.options.tsaUrl, token, genTime: result.genTime, policy: result.policy, serial: result.serial, createdAt: now };
    await addAnchor(sql, anchor);
    ledgerAnchors.inc({ result: 'ok' });
    ledgerLastAnchor.set(result.genTime.getTime() / 1000);
    this.options.onAnchor?.(anchor, result);
    return anchor;
  }

  private async post(der: Buffer): Promise<Buffer> {
    const res = await fetch(this.options.tsaUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/timestamp-query', Accept: 'application/timestamp-reply' },
      body: der,
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
    });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`the TSA answered HTTP ${res.status}`);
    }
    const type = res.headers.get('content-type') ?? '';
    if (!type.startsWith('application/timestamp-reply')) {
      await res.body?.cancel();
      throw new Error(`the TSA answered ${type || 'no content type'}, not application/timestamp-reply`);
    }
    if (Number(res.headers.get('content-length') ?? 0) > MAX_TIMESTAMP_BYTES) {
      await res.body?.cancel();
      throw new Error(`the TSA reply is larger than ${MAX_TIMESTAMP_BYTES} bytes`);
    }
    return Buffer.from(await res.arrayBuffer());
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), Math.min(MAX_TIMER_MS, Math.max(0, delayMs)));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let delay = this.intervalMs;
    try {
      const anchor = await this.anchorNow();
      this.failures = 0;
      // No checkpoint yet: look again soon rather than in a week.
      if (!anchor) delay = Math.min(this.intervalMs, this.options.retryMs ?? 5_000);
    } catch (error) {
      this.failures++;
      const max = Math.min(this.options.maxRetryMs ?? 3_600_000, this.intervalMs);
      delay = Math.min(max, (this.options.retryMs ?? 5_000) * 2 ** Math.min(30, this.failures - 1));
      this.options.onError?.(error, this.failures, delay);
    }
    this.schedule(delay);
  }
}

/** RFC 3161 anchoring as configured (CTP_TSA_URL, CTP_TSA_ROOTS, CTP_LEDGER_ANCHOR_INTERVAL_MS: libs/config ledgerOptions). */
export interface AnchoringOptions {
  /** The time-stamping authority; unset: no anchoring. */
  tsaUrl?: string;
  /** PEM file of the TSA's root certificate(s), required with tsaUrl. */
  tsaRoots?: string;
  intervalMs: number;
}

interface AnchorLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/**
 * The anchorer the configuration asks for, not started: none (logged once) without
 * CTP_TSA_URL; with it, CTP_TSA_ROOTS must name a PEM file of the TSA's root(s).
 */
export function anchorerFromOptions(options: AnchoringOptions, store: LedgerStore, view: LedgerView, log: AnchorLog): Anchorer | undefined {
  if (!options.tsaUrl) {
    log.info({ anchoring: 'off' }, 'RFC 3161 anchoring is off (CTP_TSA_URL is not set)');
    return undefined;
  }
  if (!options.tsaRoots) throw new Error('CTP_TSA_URL is set but CTP_TSA_ROOTS (PEM file of the TSA root certificates) is not');
  const roots = certificatesFromPem(readFileSync(options.tsaRoots, 'utf8'));
  const tsaUrl = options.tsaUrl;
  return new Anchorer({
    store,
    latest: () => view.checkpointed,
    tsaUrl,
    roots,
    intervalMs: options.intervalMs,
    onAnchor: (a, r) => log.info({ checkpoint: a.checkpointSize, genTime: a.genTime.toISOString(), tsa: r.tsa, policy: a.policy, serial: a.serial }, 'checkpoint anchored (RFC 3161)'),
    onError: (error, attempt, retryInMs) => log.warn({ err: error, attempt, retryInMs, tsaUrl }, 'RFC 3161 anchoring failed; retrying'),
  });
}
