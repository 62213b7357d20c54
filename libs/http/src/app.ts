import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { Router, type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import { CtpError } from '@ctp/ctp-core';
import { clientAborts, tracingActive } from '@ctp/telemetry';
import { observeRequests, type Logger } from './logger';
import { deferredSecurityHeaders, securityHeaders } from './security_headers';
import { sendProblem, type Step, type StepRequest, type StepResponse } from './step';

export { HSTS_MAX_AGE_SECONDS } from './security_headers';

export type ReadinessCheck = () => boolean | Promise<boolean>;

export interface ServiceAppOptions {
  routers: Router[];
  readiness: Record<string, ReadinessCheck>;
  logger: Logger;
}

/**
 * A router that matches paths exactly: case-sensitive, and `/issue/` is not `/issue`. Every
 * service router is one (createServiceApp refuses others), so each resource has one spelling:
 * rate limits, auth and metrics cannot be sidestepped by writing `/ISSUE` or `/issue/`.
 */
export function apiRouter(): Router {
  return Router({ caseSensitive: true, strict: true });
}

const isStrict = (router: Router) => (router as unknown as { caseSensitive?: boolean }).caseSensitive === true && (router as unknown as { strict?: boolean }).strict === true;

interface HotRoute {
  path: string;
  /** What express would leave in req.route: read by the rate limit, the metrics and the log. */
  route: { path: string };
  steps: Step[];
}

/** Each router's hot routes, by path. */
const hotRoutes = new WeakMap<Router, Map<string, HotRoute>>();

/**
 * `router.post(path, ...steps)` that createServiceApp also serves without express when the
 * request line names exactly this path (no query string, no other spelling): the common
 * request skips express's per-request set-up and its route matching, and everything else
 * (`?query`, wrong methods, errors express raises) still goes through the express route,
 * built from the same steps. Both paths write the same bytes (apps/ctp/src/golden_responses.spec.ts).
 */
export function hotPost(router: Router, path: string, ...steps: Step[]): void {
  router.post(path, ...steps);
  const routes = hotRoutes.get(router) ?? new Map<string, HotRoute>();
  routes.set(path, { path, route: { path }, steps });
  hotRoutes.set(router, routes);
}

/** The express app every service and `ctp up` share: headers, health, routers, problems. */
export function createServiceApp(options: ServiceAppOptions): Express {
  if (!options.routers.every(isStrict)) throw new Error('every service router must be strict and case-sensitive: create it with apiRouter()');
  const app = express();
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  app.disable('x-powered-by');
  app.set('etag', false);
  // No response carries a validator (no ETag, no Last-Modified), so no request is
  // "fresh": without this, `If-None-Match: *` turned any JSON answer (a revocation
  // page, the checkpoint, the JWKS) into an empty 304.
  Object.defineProperty(app.request, 'fresh', { configurable: true, get: () => false });
  const observe = observeRequests(options.logger);
  app.use(securityHeaders);
  app.use(observe);
  // The service's routes first (the hot ones), then the probes: paths differ, so the order only saves work.
  for (const router of options.routers) app.use(router);
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const checks: Record<string, boolean> = {};
    for (const [name, check] of Object.entries(options.readiness)) {
      checks[name] = await Promise.resolve()
        .then(check)
        .catch(() => false);
    }
    const ready = Object.values(checks).every(Boolean);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks });
  });
  app.use((req, _res, next) => next(new CtpError('not_found', `no resource at ${req.method} ${req.path.slice(0, 200)}`)));
  const answerError = errorAnswerer(options.logger);
  app.use(((error: unknown, req, res, _next) => answerError(error, req, res)) as ErrorRequestHandler);

  // Each hot route's whole chain, as express runs it: the app's two middlewares, then the route's steps.
  const hot = new Map<string, HotRoute>();
  for (const router of options.routers) {
    for (const [path, route] of hotRoutes.get(router) ?? []) {
      if (hot.has(path)) throw new Error(`two routers serve POST ${path}`);
      hot.set(path, { ...route, steps: [deferredSecurityHeaders, observe, ...route.steps] });
    }
  }
  if (hot.size === 0) return app;
  // express's app function calls app.handle for every request: hot requests are answered
  // here, the rest go on to express. With tracing on, every request takes the express path,
  // whose instrumentation names the server span after the route.
  const expressHandle = (app as unknown as { handle: HandleFn }).handle.bind(app);
  (app as unknown as { handle: HandleFn }).handle = (req, res, callback) => {
    const route = req.method === 'POST' && callback === undefined ? hot.get(req.url ?? '') : undefined;
    if (route === undefined || tracingActive()) return expressHandle(req, res, callback);
    serveHot(route, req as StepRequest, res as StepResponse, answerError);
  };
  return app;
}

type HandleFn = (req: IncomingMessage, res: ServerResponse, callback?: (error?: unknown) => void) => void;

/** Runs the steps in order, as express would run them in the route; an error goes to `answerError`. */
function serveHot(hot: HotRoute, req: StepRequest, res: StepResponse, answerError: ErrorAnswerer): void {
  const { steps } = hot;
  req.route = hot.route;
  res.locals = {};
  let index = 0;
  const fail = (error: unknown) => {
    try {
      answerError(error, req, res);
    } catch {
      // As express's final handler does when an error comes after the answer started.
      req.socket.destroy();
    }
  };
  const next = (error?: unknown): void => {
    if (error !== undefined && error !== null) return fail(error);
    const step = steps[index++];
    if (step === undefined) return fail(new Error(`no step answered POST ${hot.path}`));
    try {
      const settled = step(req, res, next);
      if (settled !== undefined) settled.catch(fail);
    } catch (thrown) {
      fail(thrown);
    }
  };
  next();
}

type ErrorAnswerer = (error: unknown, req: StepRequest, res: StepResponse) => void;

/** The problem response for whatever a step or route handler failed with (both paths use it). */
function errorAnswerer(logger: Logger): ErrorAnswerer {
  return (error, req, res) => {
    if (error instanceof CtpError) {
      // A dependency failure (503) is the operator's business: log why, which the problem body does not say.
      if (error.status === 503 && error.cause !== undefined) logger.warn({ err: error.cause, code: error.code }, error.message);
      return sendProblem(res, error);
    }
    if (req.readableAborted) {
      // The client closed the connection before its request was read: nobody is left to answer,
      // and nothing failed on this side. Counted, not reported as a server error.
      clientAborts.inc();
      logger.debug({ method: req.method, route: req.route?.path ?? 'unmatched' }, 'client went away before the request was read');
      return;
    }
    if (error instanceof URIError && (error as { status?: unknown }).status === 400) {
      // The router could not percent-decode a path parameter (e.g. /ledger/entries/%ZZ).
      return sendProblem(
        res,
        new CtpError('validation_failed', 'the request path is not valid percent-encoded UTF-8', {
          errors: [{ field: '(path)', rule: 'percent_encoding', message: 'percent-encoded UTF-8' }],
        }),
      );
    }
    logger.error({ err: error }, 'unhandled error');
    sendProblem(res, new CtpError('internal', 'the request failed; it has been logged'));
  };
}

/** Answers 405 for methods a path does not support, listing the ones it does. */
export function methodNotAllowed(...allowed: string[]): RequestHandler {
  return (req, res, next) => {
    res.setHeader('Allow', allowed.join(', '));
    next(new CtpError('method_not_allowed', `${req.method} is not allowed here; use ${allowed.join(' or ')}`));
  };
}
