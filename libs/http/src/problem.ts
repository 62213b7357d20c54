import type { Response } from 'express';
import { CtpError, type ProblemCode, type FieldError } from '@ctp/ctp-core';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function sendProblem(res: Response, error: CtpError): void {
  if (error.code === 'unauthenticated') res.setHeader('WWW-Authenticate', 'Bearer realm="ctp"');
  res.status(error.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(error.toProblem()));
}

export function problem(code: ProblemCode, detail: string, errors?: FieldError[]): CtpError {
  return new CtpError(code, detail, errors ? { errors } : {});
}
