import { once } from 'node:events';
import type { RequestHandler, Router } from 'express';
import { CtpError } from '@ctp/ctp-core';
import { apiRouter, methodNotAllowed } from '@ctp/http';
import type { NoteVerifier } from '@ctp/ledger-core';
import { listAnchors } from './anchor';
import { streamPack } from './pack_export';
import type { LedgerView, SigningView } from './reader';
import type { LedgerStore, StoredCheckpoint, StoredEntry } from './store';

export interface LedgerRouterOptions {
  store: LedgerStore;
  /** The read side: the writer's (which also signs a checkpoint before an export), or a LedgerReader's. */
  view: LedgerView | SigningView;
  /** The checkpoint verifier keys, published at /ledger/verifiers. */
  verifiers: NoteVerifier[];
  origin: string;
  /**
   * Guards what reads the ledger's contents (entries, proofs, anchors, exports): the
   * auditor credential outside dev mode. The checkpoint and the verifier keys stay
   * public, as a log's signed head and keys are meant to be.
   */
  auditorAuth?: RequestHandler;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
/** The instants PostgreSQL and Date#toISOString both write as 4-digit years (0001..9999). */
const MIN_DATE_MS = Date.parse('0001-01-01T00:00:00Z');
const MAX_DATE_MS = Date.parse('9999-12-31T23:59:59.999Z');

function dateParam(value: unknown, field: string): Date {
  const ms = typeof value === 'string' && value.length <= 40 && RFC3339.test(value) ? Date.parse(value) : NaN;
  // Year 0000 or an offset that crosses into it used to reach PostgreSQL and fail there (500).
  if (Number.isNaN(ms) || ms < MIN_DATE_MS || ms > MAX_DATE_MS) {
    throw new CtpError('validation_failed', `${field}: an RFC 3339 date-time is required`, { errors: [{ field, rule: 'format:datetime', message: 'e.g. 2026-11-01T00:00:00Z' }] });
  }
  return new Date(ms);
}

function positiveInt(value: unknown, field: string, optional = false): number | undefined {
  if (value === undefined && optional) return undefined;
  const n = typeof value === 'string' && /^[1-9]\d{0,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new CtpError('validation_failed', `${field}: a positive integer is required`, {
      errors: [{ field, rule: 'positive_integer', message: 'a positive decimal integer' }],
    });
  }
  return n;
}

const b64 = (h: Buffer) => h.toString('base64');
export const entryJson = (e: StoredEntry) => ({ entry: e.entry, entry_hash: b64(e.entryHash), leaf_hash: b64(e.leafHash) });

/** GET /ledger/checkpoint's answer. */
export const checkpointJson = (c: StoredCheckpoint) => ({ size: c.size, root: b64(c.root), note: c.note, created_at: c.createdAt.toISOString() });

/** GET /ledger/proofs/inclusion's answer: the RFC 9162 inclusion proof of entry `seq` in the tree of `size` entries. */
export function inclusionProofJson(view: LedgerView, seq: number, size: number) {
  return {
    seq,
    leaf_index: seq - 1,
    tree_size: size,
    leaf_hash: b64(view.tree.leaf(seq - 1)),
    root: b64(view.tree.root(size)),
    proof: view.tree.inclusionProof(seq - 1, size).map(b64),
  };
}

/**
 * Read-only ledger API: the latest signed checkpoint, entries, and RFC 9162
 * inclusion and consistency proofs. Leaf index = seq - 1. Hashes are base64, as
 * in the checkpoint note.
 */
export function ledgerRouter(options: LedgerRouterOptions): Router {
  const { store, view } = options;
  const auditor: RequestHandler = options.auditorAuth ?? ((_req, _res, next) => next());
  const router = apiRouter();
  const treeSizeOrLatest = (value: unknown): number => {
    const size = positiveInt(value, 'size', true) ?? view.checkpointed?.size;
    if (size === undefined) throw new CtpError('not_found', 'no checkpoint has been signed yet');
    if (size > view.tree.size) throw new CtpError('validation_failed', `size: the tree has ${view.tree.size} entries`, { errors: [{ field: 'size', rule: `max:${view.tree.size}`, message: 'beyond the tree' }] });
    return size;
  };

  router.get('/ledger/checkpoint', (_req, res) => {
    const c = view.checkpointed;
    if (!c) throw new CtpError('not_found', 'no checkpoint has been signed yet');
    res.json(checkpointJson(c));
  });
  router.get('/ledger/verifiers', (_req, res) => {
    res.json({ keys: options.verifiers.map((v) => ({ name: v.name, alg: v.alg, vkey: v.toString() })) });
  });
  router.get('/ledger/entries/:seq', auditor, async (req, res) => {
    const seq = positiveInt(req.params.seq, 'seq')!;
    const entry = await store.entry(seq);
    if (!entry && seq < (await store.firstRetainedSeq())) throw new CtpError('not_found', `retention of ledger entry ${seq} has ended (its leaf hash is kept)`);
    if (!entry) throw new CtpError('not_found', `no ledger entry ${seq}`);
    res.json(entryJson(entry));
  });
  router.get('/ledger/entries', auditor, async (req, res) => {
    const jti = req.query.jti;
    if (typeof jti !== 'string' || !/^[0-9a-f-]{36}$/.test(jti)) {
      throw new CtpError('validation_failed', 'jti: a lowercase UUID is required', { errors: [{ field: 'jti', rule: 'uuid', message: 'a lowercase UUID' }] });
    }
    res.json({ entries: (await store.entriesByJti(jti)).map(entryJson) });
  });
  router.get('/ledger/proofs/inclusion', auditor, (req, res) => {
    const seq = positiveInt(req.query.seq, 'seq')!;
    const size = treeSizeOrLatest(req.query.size);
    if (seq > size) throw new CtpError('validation_failed', `seq ${seq} is not in a tree of size ${size}`, { errors: [{ field: 'seq', rule: `max:${size}`, message: 'beyond the tree size' }] });
    res.json(inclusionProofJson(view, seq, size));
  });
  router.get('/ledger/proofs/consistency', auditor, (req, res) => {
    const first = positiveInt(req.query.first, 'first')!;
    const second = treeSizeOrLatest(req.query.second);
    if (first > second) throw new CtpError('validation_failed', 'first must not exceed second', { errors: [{ field: 'first', rule: `max:${second}`, message: 'larger than second' }] });
    res.json({ first, second, proof: view.tree.consistencyProof(first, second).map(b64) });
  });
  router.get('/ledger/anchors', auditor, async (req, res) => {
    const from = positiveInt(req.query.from_size, 'from_size', true) ?? 1;
    const to = positiveInt(req.query.to_size, 'to_size', true) ?? Number.MAX_SAFE_INTEGER;
    const anchors = await listAnchors(store.sql, from, to, 100);
    res.json({
      anchors: anchors.map((a) => ({
        checkpoint_size: a.checkpointSize,
        tsa_url: a.tsaUrl,
        gen_time: a.genTime.toISOString(),
        policy: a.policy,
        serial: a.serial,
        token: a.token.toString('base64'),
      })),
    });
  });
  router.get('/ledger/export', auditor, async (req, res) => {
    const from = dateParam(req.query.from, 'from');
    const to = dateParam(req.query.to, 'to');
    if (to <= from) throw new CtpError('validation_failed', 'to must be after from', { errors: [{ field: 'to', rule: 'after:from', message: 'must be after from' }] });
    const chunks = streamPack({ store, view, verifiers: options.verifiers, origin: options.origin }, from, to);
    // The first chunk comes once everything that can refuse the export is settled: until
    // then an error is still a problem response; after it, a failure cuts the zip short.
    const first = await chunks.next();
    res.setHeader('Content-Disposition', `attachment; filename="ctp-pack-${from.toISOString().slice(0, 10)}-${to.toISOString().slice(0, 10)}.zip"`);
    res.type('application/zip');
    try {
      for (let next = first; !next.done; next = await chunks.next()) {
        if (!res.write(next.value)) await once(res, 'drain');
      }
      res.end();
    } catch (error) {
      res.destroy(error as Error);
    }
  });
  for (const path of ['/ledger/export', '/ledger/checkpoint', '/ledger/verifiers', '/ledger/anchors', '/ledger/entries', '/ledger/entries/:seq', '/ledger/proofs/inclusion', '/ledger/proofs/consistency']) {
    router.all(path, methodNotAllowed('GET'));
  }
  return router;
}
