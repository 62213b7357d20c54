import type { Router } from 'express';
import { parseIntrospectRequest } from '@ctp/ctp-core';
import { apiRouter, hotPost, methodNotAllowed, sendJson, type Step } from '@ctp/http';
import { introspections, validationErrors, validationLatency } from '@ctp/telemetry';
import type { DecisionLog } from './decision_log';
import type { Introspector } from './introspector';

export interface IntrospectorRouterOptions {
  introspector: Introspector;
  decisions: DecisionLog;
  auth: Step;
  body: Step;
}

export function introspectorRouter(options: IntrospectorRouterOptions): Router {
  const router = apiRouter();
  hotPost(router, '/introspect', options.auth, options.body, async (req, res) => {
    const started = process.hrtime.bigint();
    const request = parseIntrospectRequest(req.body);
    const result = await options.introspector.introspect(request.token, request.context_envelope);
    validationLatency.series().observe(Number(process.hrtime.bigint() - started) / 1e9);
    introspections.series(result.decision).inc();
    if (result.reason !== null) validationErrors.series(result.reason).inc();
    options.decisions.record(result, request.context_envelope.processor, request.context_envelope.purpose);
    sendJson(res, result);
  });
  router.all('/introspect', methodNotAllowed('POST'));
  return router;
}
