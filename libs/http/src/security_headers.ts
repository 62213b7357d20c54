import type { ServerResponse } from 'node:http';
import helmet from 'helmet';
import type { Step } from './step';

/** HSTS max-age: two years (at least the one year preload lists require). */
export const HSTS_MAX_AGE_SECONDS = 63_072_000;

/**
 * helmet's headers tuned for a JSON API: a CSP that allows nothing (no response is a
 * document), HSTS for two years including subdomains, no-referrer, nosniff, frames
 * denied; plus Cache-Control: no-store (tokens and decisions must not be cached).
 * Routes that may be cached (JWKS) override Cache-Control themselves.
 */
const helmetHeaders = helmet({
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  strictTransportSecurity: { maxAge: HSTS_MAX_AGE_SECONDS, includeSubDomains: true },
  referrerPolicy: { policy: 'no-referrer' },
  xFrameOptions: { action: 'deny' },
});

/**
 * The header set above, computed once: helmet runs here against a recorder, and every
 * response then gets the recorded headers, in the same order (its values do not depend on
 * the request).
 */
function recordHeaders(): [string, string][] {
  const headers = new Map<string, [string, string]>();
  const recorder = {
    setHeader: (name: string, value: string) => headers.set(name.toLowerCase(), [name, String(value)]),
    removeHeader: (name: string) => headers.delete(name.toLowerCase()),
  };
  let done = false;
  helmetHeaders({} as never, recorder as never, () => {
    done = true;
  });
  if (!done) throw new Error('helmet did not finish synchronously');
  recorder.setHeader('Cache-Control', 'no-store');
  return [...headers.values()];
}
export const SECURITY_HEADERS = recordHeaders();
/** The same, as the flat [name, value, ...] list `res.writeHead` takes. */
const SECURITY_HEADERS_FLAT = SECURITY_HEADERS.flat();

/** Every response of an express route gets the headers first (the app's first middleware). */
export const securityHeaders: Step = (_req, res, next) => {
  for (const [name, value] of SECURITY_HEADERS) res.setHeader(name, value);
  next();
};

/** Hot-route responses whose security headers are still to be written, by `writeResponseHead` below. */
const pending = new WeakSet<ServerResponse>();

/**
 * The hot routes' first step: the same headers, written when the answer is (`writeResponseHead`), in
 * one `res.writeHead` call with the answer's own: fifteen `setHeader` calls cost node:http
 * about 6 µs more per response (BENCHMARKS.md).
 */
export const deferredSecurityHeaders: Step = (_req, res, next) => {
  pending.add(res);
  next();
};

/**
 * Writes a whole answer's head: the security headers still pending, those a step set (a
 * 401's challenge, Retry-After, Connection: close, Idempotent-Replayed), then Content-Type and
 * Content-Length: the order, and so the bytes, of a response whose security headers were set
 * first (apps/ctp/src/golden_responses.spec.ts holds them).
 */
export function writeResponseHead(res: ServerResponse, contentType: string, contentLength: number): void {
  if (!pending.delete(res)) {
    res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', contentLength);
    return;
  }
  // OutgoingMessage#getRawHeaderNames (the names as set, not lower-cased; @types/node declares it on ClientRequest only).
  const set = (res as unknown as { getRawHeaderNames(): string[] }).getRawHeaderNames();
  if (set.length === 0) {
    res.writeHead(res.statusCode, [...SECURITY_HEADERS_FLAT, 'Content-Type', contentType, 'Content-Length', String(contentLength)]);
    return;
  }
  const saved = set.map((name) => [name, res.getHeader(name)] as const);
  for (const name of set) res.removeHeader(name);
  for (const [name, value] of SECURITY_HEADERS) res.setHeader(name, value);
  for (const [name, value] of saved) if (value !== undefined) res.setHeader(name, value);
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', contentLength);
}
