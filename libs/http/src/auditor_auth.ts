import type { RequestHandler } from 'express';
import { CtpError } from '@ctp/ctp-core';
import type { AuditorRegistry } from '@ctp/partners';

/**
 * Requires `Authorization: Bearer <auditor api key>` (an auditor of the partners file)
 * outside dev mode; in dev mode (`ctp up`) the ledger stays open, as the guide's
 * examples expect. A partner's key is not an auditor's.
 */
export function auditorAuth(options: { auditors: AuditorRegistry; devMode: boolean }): RequestHandler {
  return (req, res, next) => {
    if (options.devMode) return next();
    const match = /^Bearer ([\x21-\x7e]{1,200})$/.exec(req.headers.authorization ?? '');
    const auditor = match ? options.auditors.authenticate(match[1]!) : undefined;
    if (!auditor) return next(new CtpError('unauthenticated', 'reading the ledger needs an auditor credential: send Authorization: Bearer <auditor API key>'));
    res.locals.auditor = auditor;
    next();
  };
}
