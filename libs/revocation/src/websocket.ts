import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CtpError } from '@ctp/ctp-core';
import { authenticate, HSTS_MAX_AGE_SECONDS, type AuthOptions, type Server } from '@ctp/http';
import type { RevocationFeed } from './feed';
import { parseCursor } from './router';

export const WEBSOCKET_PATH = '/revocations/ws';

export interface RevocationWebSocketOptions {
  feed: RevocationFeed;
  auth: AuthOptions;
  heartbeatMs?: number;
}

/** Refuses an upgrade with a problem. It never reaches express (and helmet), so the headers every CTP response carries are written by hand. */
function reject(socket: Duplex, error: CtpError): void {
  const body = JSON.stringify(error.toProblem());
  const headers = [
    `HTTP/1.1 ${error.status} ${error.code}`,
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `Strict-Transport-Security: max-age=${HSTS_MAX_AGE_SECONDS}; includeSubDomains`,
    "Content-Security-Policy: default-src 'none';frame-ancestors 'none'",
    'Cache-Control: no-store',
    'X-Content-Type-Options: nosniff',
    'Referrer-Policy: no-referrer',
    ...(error.code === 'unauthenticated' ? ['WWW-Authenticate: Bearer realm="ctp"'] : []),
    'Connection: close',
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}

/**
 * WebSocket push at /revocations/ws (?since=<cursor> to resume). Same messages and
 * cursors as SSE: {"type":"revocation", cursor, jti, reason, revoked_at}, after a
 * {"type":"ready", cursor} once the backlog is sent. Ping frames keep it alive.
 */
export function attachRevocationWebSocket(server: Server, options: RevocationWebSocketOptions): WebSocketServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  // A handshake ws refuses (bad Sec-WebSocket-Key or -Version, an upgrade to another protocol,
  // a method other than GET) is answered as a problem, not ws's text/html default.
  wss.on('wsClientError', (error: Error, socket: Duplex, req: IncomingMessage) => {
    if (req.method !== 'GET') return reject(socket, new CtpError('not_found', `no resource at ${req.method} ${WEBSOCKET_PATH}`));
    reject(socket, new CtpError('validation_failed', error.message, { errors: [{ field: '(handshake)', rule: 'websocket_handshake', message: error.message }] }));
  });
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // The raw path, as the HTTP routes see it: URL parsing would resolve `/x/../revocations/ws`.
    const [path = '/'] = (req.url ?? '/').split('?');
    if (path !== WEBSOCKET_PATH) return reject(socket, new CtpError('not_found', `no WebSocket endpoint at ${path.slice(0, 100)}`));
    const url = new URL(req.url ?? '/', 'http://localhost');
    const partner = authenticate(req.headers.authorization, options.auth);
    if (partner instanceof CtpError) return reject(socket, partner);
    let since: number | undefined;
    let release: () => void;
    try {
      since = parseCursor(url.searchParams.get('since') ?? undefined, 'since');
      release = options.feed.reserveStream(partner.id);
    } catch (error) {
      return reject(socket, error as CtpError);
    }
    socket.once('close', release);
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      // An invalid frame from the client (bad RSV bits, oversized payload...) is an 'error'
      // on the socket; unheard, it was an uncaught exception that took the whole process down.
      ws.on('error', () => ws.terminate());
      void (async () => {
        const send = (message: object) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(message));
        const following = await options.feed.follow(partner.id, since, (r) => send({ type: 'revocation', ...r })).catch((error: unknown) => {
          send({ type: 'error', problem: error instanceof CtpError ? error.toProblem() : { code: 'internal' } });
          ws.close(1011);
          return undefined;
        });
        if (!following) return;
        send({ type: 'ready', cursor: String(following.cursor) });
        const heartbeat = setInterval(() => ws.ping(), heartbeatMs);
        ws.on('close', () => {
          clearInterval(heartbeat);
          following.stop();
        });
      })();
    });
  });
  return wss;
}
