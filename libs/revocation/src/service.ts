import type { RequestHandler, Router } from 'express';
import type { EventBus } from '@ctp/bus';
import type { AuthOptions, Server } from '@ctp/http';
import { RevocationFeed } from './feed';
import { RevocationService } from './revocation_service';
import type { RevocationStore } from './revocation_store';
import { revocationRouter } from './router';
import type { TokenOwnerRegistry } from './token_owners';
import { attachRevocationWebSocket } from './websocket';

export interface RevocationStartOptions {
  /** Poll interval advertised to GET /revocations clients. */
  pollIntervalMs: number;
  /** Heartbeat period on SSE and WebSocket push channels. */
  heartbeatMs: number;
  /** Most push streams one partner may hold open. */
  maxStreamsPerPartner: number;
}

export interface RunningRevocation {
  /** POST /revoke, GET /revocations and /revocations/stream (SSE). */
  routers: Router[];
  /** Serves /revocations/ws on the listening server. */
  attach(server: Server): void;
  /** Ends every WebSocket client at once (before the server closes). */
  disconnect(): void;
  /** Stops the push feed. */
  stop(): Promise<void>;
}

/**
 * The revocation broadcaster as apps/revocation-broadcaster and `ctp up` both run it: the
 * revocation service writing to `store`, the push feed, its routes and its WebSocket endpoint.
 */
export async function startRevocation(
  options: RevocationStartOptions,
  deps: { bus: EventBus; store: RevocationStore; owners: TokenOwnerRegistry; partners: AuthOptions; auth: RequestHandler; body: RequestHandler },
): Promise<RunningRevocation> {
  const feed = new RevocationFeed(deps.bus, { maxStreamsPerPartner: options.maxStreamsPerPartner });
  await feed.start();
  let wss: ReturnType<typeof attachRevocationWebSocket> | undefined;
  return {
    routers: [
      revocationRouter({
        service: new RevocationService({ bus: deps.bus, store: deps.store, owners: deps.owners }),
        feed,
        auth: deps.auth,
        body: deps.body,
        pollIntervalMs: options.pollIntervalMs,
        heartbeatMs: options.heartbeatMs,
      }),
    ],
    attach: (server) => {
      wss = attachRevocationWebSocket(server, { feed, auth: deps.partners, heartbeatMs: options.heartbeatMs });
    },
    disconnect: () => {
      for (const client of wss?.clients ?? []) client.terminate();
    },
    stop: () => feed.stop(),
  };
}
