import type { Router } from 'express';
import { CtpError, parseIssueRequest } from '@ctp/ctp-core';
import { apiRouter, hotPost, methodNotAllowed, partnerOf, sendJson, type Step } from '@ctp/http';
import type { TokenKeys } from '@ctp/keys';
import { issueIdempotently, parseIdempotencyKey, type IdempotencyStore } from './idempotency';
import type { IssuanceService } from './issuance_service';

export const JWKS_PATH = '/.well-known/jwks.json';
/** Verifiers may cache the JWKS this long; they refetch sooner on an unknown kid. */
export const JWKS_MAX_AGE_SECONDS = 60;

export interface IssuerRouterOptions {
  service: IssuanceService;
  keys: TokenKeys;
  auth: Step;
  body: Step;
  /** Where Idempotency-Key records live (Redis, or in process under `ctp up` without Redis). */
  idempotency: IdempotencyStore;
}

export function issuerRouter(options: IssuerRouterOptions): Router {
  const router = apiRouter();
  hotPost(router, '/issue', options.auth, options.body, async (req, res) => {
    const key = parseIdempotencyKey(req.headers['idempotency-key']);
    const request = parseIssueRequest(req.body);
    const partner = partnerOf(res);
    const issue = () => options.service.issue(partner, request, Date.now(), req.headers.traceparent);
    if (key === undefined) return sendJson(res, await issue());
    try {
      const { issued, replayed } = await issueIdempotently(options.idempotency, partner, key, request, issue);
      if (replayed) res.setHeader('Idempotent-Replayed', 'true');
      sendJson(res, issued);
    } catch (error) {
      if (error instanceof CtpError && error.code === 'idempotency_key_in_progress') res.setHeader('Retry-After', '1');
      throw error;
    }
  });
  router.all('/issue', methodNotAllowed('POST'));
  router.get(JWKS_PATH, (_req, res) => {
    res.setHeader('Cache-Control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
    res.type('application/jwk-set+json').send(JSON.stringify(options.keys.jwks()));
  });
  router.all(JWKS_PATH, methodNotAllowed('GET'));
  return router;
}
