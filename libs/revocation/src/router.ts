import type { RequestHandler, Router } from 'express';
import { CtpError, parseOrThrow, revokeRequestSchema } from '@ctp/ctp-core';
import { apiRouter, methodNotAllowed, partnerOf } from '@ctp/http';
import type { PartnerRevocation, RevocationFeed } from './feed';
import type { RevocationService } from './revocation_service';

export interface RevocationRouterOptions {
  service: RevocationService;
  feed: RevocationFeed;
  auth: RequestHandler;
  body: RequestHandler;
  /** The poll interval advertised to pull clients; 1 s keeps pull propagation well under 5 s. */
  pollIntervalMs?: number;
  heartbeatMs?: number;
}

const CURSOR = /^\d{1,15}$/;
export const MAX_PAGE = 1000;

/** Parses a cursor (`since`, Last-Event-ID); undefined when absent. */
export function parseCursor(value: unknown, field: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !CURSOR.test(value)) {
    throw new CtpError('validation_failed', `${field}: a cursor is a decimal number from a previous response`, {
      errors: [{ field, rule: 'pattern', message: 'a decimal cursor such as 0 or 1234' }],
    });
  }
  return Number(value);
}

function parseLimit(value: unknown): number {
  if (value === undefined) return 500;
  const n = typeof value === 'string' && /^\d{1,4}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= MAX_PAGE)) {
    throw new CtpError('validation_failed', `limit: 1..${MAX_PAGE}`, { errors: [{ field: 'limit', rule: `range:1..${MAX_PAGE}`, message: `an integer from 1 to ${MAX_PAGE}` }] });
  }
  return n;
}

export function revocationRouter(options: RevocationRouterOptions): Router {
  const router = apiRouter();
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const heartbeatMs = options.heartbeatMs ?? 15_000;

  router.post('/revoke', options.auth, options.body, async (req, res) => {
    const { jti, reason } = parseOrThrow(revokeRequestSchema, req.body);
    await options.service.revoke(partnerOf(res), jti, reason ?? 'unspecified', req.headers.traceparent);
    res.json({ status: 'ok', revoked: jti });
  });
  router.all('/revoke', methodNotAllowed('POST'));

  router.get('/revocations', options.auth, async (req, res) => {
    const since = parseCursor(req.query.since, 'since') ?? 0;
    const page = await options.feed.page(partnerOf(res).id, since, parseLimit(req.query.limit));
    res.json({ ...page, poll_interval_ms: pollIntervalMs });
  });
  router.all('/revocations', methodNotAllowed('GET'));

  router.get('/revocations/stream', options.auth, async (req, res) => {
    const since = parseCursor(req.headers['last-event-id'], 'Last-Event-ID') ?? parseCursor(req.query.since, 'since');
    const release = options.feed.reserveStream(partnerOf(res).id);
    req.on('close', release);
    const send = (r: PartnerRevocation) => {
      res.write(`id: ${r.cursor}\nevent: revocation\ndata: ${JSON.stringify(r)}\n\n`);
    };
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    const following = await options.feed.follow(partnerOf(res).id, since, send).catch((error: unknown) => {
      res.write(`event: error\ndata: ${JSON.stringify(error instanceof CtpError ? error.toProblem() : { code: 'internal' })}\n\n`);
      res.end();
      return undefined;
    });
    if (!following) return;
    res.write(`retry: 1000\nid: ${following.cursor}\nevent: ready\ndata: {"cursor":"${following.cursor}"}\n\n`);
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), heartbeatMs);
    req.on('close', () => {
      clearInterval(heartbeat);
      following.stop();
    });
  });
  router.all('/revocations/stream', methodNotAllowed('GET'));
  return router;
}
