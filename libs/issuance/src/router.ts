import type { RequestHandler, Router } from 'express';
import { issueRequestSchema, parseOrThrow } from '@ctp/ctp-core';
import { apiRouter, methodNotAllowed, partnerOf } from '@ctp/http';
import type { TokenKeys } from '@ctp/keys';
import type { IssuanceService } from './issuance_service';

export const JWKS_PATH = '/.well-known/jwks.json';
/** Verifiers may cache the JWKS this long; they refetch sooner on an unknown kid. */
export const JWKS_MAX_AGE_SECONDS = 60;

export interface IssuerRouterOptions {
  service: IssuanceService;
  keys: TokenKeys;
  auth: RequestHandler;
  body: RequestHandler;
}

export function issuerRouter(options: IssuerRouterOptions): Router {
  const router = apiRouter();
  router.post('/issue', options.auth, options.body, async (req, res) => {
    const request = parseOrThrow(issueRequestSchema, req.body);
    res.json(await options.service.issue(partnerOf(res), request, Date.now(), req.headers.traceparent));
  });
  router.all('/issue', methodNotAllowed('POST'));
  router.get(JWKS_PATH, (_req, res) => {
    res.setHeader('Cache-Control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
    res.type('application/jwk-set+json').send(JSON.stringify(options.keys.jwks()));
  });
  router.all(JWKS_PATH, methodNotAllowed('GET'));
  return router;
}
