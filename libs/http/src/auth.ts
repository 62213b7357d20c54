import { CtpError } from '@ctp/ctp-core';
import type { Partner, PartnerRegistry } from '@ctp/partners';
import { enforceRateLimit, limitedEndpoint, rateLimitError, type PartnerRateLimits } from './rate_limit';
import type { Step, StepResponse } from './step';

export interface AuthOptions {
  registry: PartnerRegistry | undefined;
  /** Dev mode: calls without a credential act as this partner. */
  devPartner?: Partner;
}

/** The partner an Authorization header names, or the CtpError to answer with. */
export function authenticate(header: string | undefined, options: AuthOptions): Partner | CtpError {
  if (header === undefined) return options.devPartner ?? new CtpError('unauthenticated', 'send Authorization: Bearer <partner API key>');
  const match = /^Bearer ([\x21-\x7e]{1,200})$/.exec(header);
  const partner = match && options.registry?.authenticate(match[1]!);
  return partner || new CtpError('unauthenticated', 'the partner credential is not valid');
}

/**
 * Requires `Authorization: Bearer <api key>`; the partner lands in res.locals.partner.
 * With `rateLimits`, POST /issue, /introspect and /revoke then count against that
 * partner's limit and answer 429 `rate_limited` with Retry-After when it is spent.
 */
export function partnerAuth(options: AuthOptions, rateLimits?: PartnerRateLimits): Step {
  return (req, res, next) => {
    const result = authenticate(req.headers.authorization, options);
    if (result instanceof CtpError) return next(result);
    res.locals.partner = result;
    // Counted by the route that matched, so no spelling of the path can skip the count.
    const endpoint = rateLimits && limitedEndpoint(req.method ?? '', req.route?.path ?? '');
    if (!rateLimits || !endpoint) return next();
    enforceRateLimit(rateLimits, result, endpoint).then((refused) => {
      if (!refused) return next();
      res.setHeader('Retry-After', String(refused.retryAfter));
      next(rateLimitError(endpoint, result.rateLimits?.[endpoint] ?? rateLimits.defaults[endpoint], refused.retryAfter));
    }, next);
  };
}

export function partnerOf(res: Pick<StepResponse, 'locals'>): Partner {
  const partner = res.locals.partner as Partner | undefined;
  if (!partner) throw new Error('partnerAuth must run before this handler');
  return partner;
}
