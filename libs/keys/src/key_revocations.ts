import type { EventBus, Subscription } from '@ctp/bus';
import { REVOCATION_REPLAY_WINDOW_SECONDS } from '@ctp/ctp-core';
import { KEY_REVOKED_SUBJECT, LEDGER_STREAM, type KeyRevokedEvent } from '@ctp/events';

/** What a verifier consults before trusting a kid: a local read. */
export interface RevokedKeys {
  isKeyRevoked(kid: string): boolean;
}

export interface KeyRevocationWatchOptions {
  bus: EventBus;
  onRevoked?: (kid: string) => void;
}

/**
 * Emergency key revocations pushed over the bus. At start the last token lifetime
 * is replayed (a key revoked earlier has left the JWKS, so its tokens are already
 * unverifiable once every verifier refetched it; the replay covers a JWKS still
 * cached), then every revocation lands here as soon as it is published, so an
 * introspector denies the kid's tokens within the push target even while its
 * JWKS cache still holds the key.
 */
export class KeyRevocationWatch implements RevokedKeys {
  private readonly revoked = new Map<string, number>();
  private subscription: Subscription | undefined;

  constructor(private readonly options: KeyRevocationWatchOptions) {}

  async start(): Promise<void> {
    const replayFrom = Date.now() - REVOCATION_REPLAY_WINDOW_SECONDS * 1000;
    this.subscription = await this.options.bus.subscribe<KeyRevokedEvent>({ stream: LEDGER_STREAM, filter: KEY_REVOKED_SUBJECT, fromTimeMs: replayFrom }, (event) => {
      const { kid, revoked_at_ms: revokedAtMs } = event.data;
      if (typeof kid !== 'string' || this.revoked.has(kid)) return;
      this.revoked.set(kid, typeof revokedAtMs === 'number' ? revokedAtMs : Date.now());
      this.options.onRevoked?.(kid);
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
  }

  isKeyRevoked(kid: string): boolean {
    return this.revoked.has(kid);
  }

  get revokedKids(): string[] {
    return [...this.revoked.keys()];
  }
}
