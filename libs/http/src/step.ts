import type { IncomingMessage, ServerResponse } from 'node:http';
import { CtpError } from '@ctp/ctp-core';
import { writeResponseHead } from './security_headers';

/** What a step may use of a request: node's, plus what earlier steps add (the body, the matched route). */
export type StepRequest = IncomingMessage & { body?: unknown; route?: { path?: string } };
/** What a step may use of a response: node's, plus `locals` (the authenticated partner). */
export type StepResponse = ServerResponse & { locals: Record<string, unknown> };
export type Next = (error?: unknown) => void;

/**
 * A middleware written against node's request and response only. Express runs it like any
 * other handler, and so does the hot path (createServiceApp), which serves the busiest
 * routes without express: the types keep a step from reaching for `req.ip`, `res.json` or
 * anything else only express provides.
 */
export type Step = (req: StepRequest, res: StepResponse, next: Next) => void | Promise<void>;

/**
 * Writes a whole response the way express's `res.send` writes a string: Content-Type and
 * Content-Length after the headers already set (and a hot route's security headers before
 * them), no body for HEAD. No response carries a validator, so none is ever 304.
 */
function send(res: ServerResponse, contentType: string, body: string): void {
  writeResponseHead(res, contentType, Buffer.byteLength(body));
  if (res.req.method === 'HEAD') res.end();
  else res.end(body);
}

/** `res.json(value)` without express (same bytes and headers). */
export function sendJson(res: ServerResponse, value: unknown): void {
  send(res, 'application/json; charset=utf-8', JSON.stringify(value));
}

const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** An RFC 9457 problem for a CtpError: its status, its code's type and title, and for 401 the challenge. */
export function sendProblem(res: ServerResponse, error: CtpError): void {
  if (error.code === 'unauthenticated') res.setHeader('WWW-Authenticate', 'Bearer realm="ctp"');
  res.statusCode = error.status;
  send(res, `${PROBLEM_CONTENT_TYPE}; charset=utf-8`, JSON.stringify(error.toProblem()));
}
