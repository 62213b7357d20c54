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

/** A refused upgrade never reaches express (and helmet): the same headers, by hand. */
const UPGRADE_REJECTION_HEADERS =
  `Strict-Transport-Security: max-age=${HSTS_MAX_AGE_SECONDS}; includeSubDomains\r\nX-Content-Type-Options: nosniff\r\n` +
  "Content-Security-Policy: default-src 'none';frame-ancestors 'none'\r\nCache-Control: no-store\r\n";

function reject(socket: Duplex, error: CtpError): void {
  const body = JSON.stringify(error.toProblem());
  socket.end(
    `HTTP/1.1 ${error.status} ${error.code}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `${UPGRADE_REJECTION_HEADERS}Connection: close\r\n\r\n${body}`,
  );
}

/**
 * WebSocket push at /revocations/ws (?since=<cursor> to resume). Same messages and
 * cursors as SSE: {"type":"revocation", cursor, jti, reason, revoked_at}, after a
 * {"type":"ready", cursor} once the backlog is sent. Ping frames keep it alive.
 */
export function attachRevocationWebSocket(server: Server, options: RevocationWebSocketOptions): WebSocketServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== WEBSOCKET_PATH) return reject(socket, new CtpError('not_found', `no WebSocket endpoint at ${url.pathname.slice(0, 100)}`));
    const partner = authenticate(req.headers.authorization, options.auth);
    if (partner instanceof CtpError) return reject(socket, partner);
    let since: number | undefined;
    try {
      since = parseCursor(url.searchParams.get('since') ?? undefined, 'since');
    } catch (error) {
      return reject(socket, error as CtpError);
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
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
