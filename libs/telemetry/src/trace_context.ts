import { randomBytes } from 'node:crypto';

const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * The W3C traceparent to carry on a bus message: the caller's, when it sent a valid
 * one, else a new sampled trace. Events published for one request share its trace.
 */
export function traceparentFor(incoming: string | string[] | undefined): string {
  if (typeof incoming === 'string' && TRACEPARENT.test(incoming)) return incoming;
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}
