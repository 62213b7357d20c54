import type { BusEvent, EventBus, Subscription } from '@ctp/bus';
import { CtpError } from '@ctp/ctp-core';
import { ALL_REVOCATIONS, REVOCATION_STREAM, revocationSubject, type ConsentRevokedEvent as RevocationEvent } from '@ctp/events';
import { pushStreamsRefused } from '@ctp/telemetry';

/** One revocation as partners see it on every channel. `cursor` orders them. */
export interface PartnerRevocation {
  cursor: string;
  jti: string;
  reason: string;
  revoked_at: string;
}

export interface RevocationPage {
  revocations: PartnerRevocation[];
  next_cursor: string;
  has_more: boolean;
}

export const toPartnerRevocation = (event: BusEvent<RevocationEvent>): PartnerRevocation => ({
  cursor: String(event.seq),
  jti: event.data.jti,
  reason: event.data.reason,
  revoked_at: new Date(event.data.revoked_at_ms).toISOString(),
});

type Listener = (event: BusEvent<RevocationEvent>) => void;

export interface RevocationFeedOptions {
  /** Most push streams (SSE and WebSocket together) one partner may hold open on this broadcaster. */
  maxStreamsPerPartner?: number;
}

/**
 * The broadcaster's view of the revocation stream for partner channels. Cursors are
 * stream sequences: the same on every broadcaster replica, so a client may resume
 * anywhere. `follow` replays from a cursor and then goes live with no gap and no
 * duplicate.
 */
export class RevocationFeed {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly openStreams = new Map<string, number>();
  private readonly maxStreamsPerPartner: number;
  private subscription: Subscription | undefined;

  constructor(
    private readonly bus: EventBus,
    options: RevocationFeedOptions = {},
  ) {
    this.maxStreamsPerPartner = options.maxStreamsPerPartner ?? 50;
  }

  /**
   * Takes one of the partner's push stream slots, synchronously (so concurrent connects cannot all
   * pass the check), or throws `too_many_streams` (429). One API key must not hold hundreds of
   * sockets, heartbeats and listeners. Call the returned function once when the stream ends.
   */
  reserveStream(partnerId: string): () => void {
    const open = this.openStreams.get(partnerId) ?? 0;
    if (open >= this.maxStreamsPerPartner) {
      pushStreamsRefused.inc({ partner: partnerId });
      throw new CtpError('too_many_streams', `this partner already holds ${open} open push streams, the most it may; close one (or follow with fewer) before opening another`);
    }
    this.openStreams.set(partnerId, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.openStreams.get(partnerId) ?? 1) - 1;
      if (left > 0) this.openStreams.set(partnerId, left);
      else this.openStreams.delete(partnerId);
    };
  }

  async start(): Promise<void> {
    this.subscription = await this.bus.subscribe<RevocationEvent>({ stream: REVOCATION_STREAM, filter: ALL_REVOCATIONS }, (event) => {
      for (const listener of this.listeners.get(event.data.partner_id) ?? []) listener(event);
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
  }

  get subscribers(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  /** Revocations of `partnerId` after `since`, at most `limit` examined stream entries. */
  async page(partnerId: string, since: number, limit: number): Promise<RevocationPage> {
    const result = await this.bus.read<RevocationEvent>({ stream: REVOCATION_STREAM, filter: revocationSubject(partnerId), fromSeq: since + 1, max: limit });
    if (since > 0 && since + 1 < result.firstSeq) {
      throw new CtpError('cursor_expired', `cursor ${since} is older than the oldest retained revocation (${result.firstSeq}); resume from 0`);
    }
    const last = await this.bus.lastSeq(REVOCATION_STREAM);
    return { revocations: result.events.map(toPartnerRevocation), next_cursor: String(Math.max(result.lastSeq, since)), has_more: result.lastSeq < last };
  }

  /**
   * Sends `partnerId`'s revocations after `since` (or, without a cursor, from now)
   * and then every new one as it is published. Returns the cursor it started live
   * from and a function that stops following.
   */
  async follow(partnerId: string, since: number | undefined, send: (revocation: PartnerRevocation) => void): Promise<{ cursor: number; stop: () => void }> {
    const buffered: BusEvent<RevocationEvent>[] = [];
    let live = false;
    let cursor = since ?? (await this.bus.lastSeq(REVOCATION_STREAM));
    const listener: Listener = (event) => {
      if (!live) buffered.push(event);
      else if (event.seq > cursor) {
        cursor = event.seq;
        send(toPartnerRevocation(event));
      }
    };
    let set = this.listeners.get(partnerId);
    if (!set) this.listeners.set(partnerId, (set = new Set()));
    set.add(listener);
    const stop = () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(partnerId);
    };
    try {
      for (;;) {
        const page = await this.page(partnerId, cursor, 1000);
        for (const r of page.revocations) send(r);
        cursor = Number(page.next_cursor);
        if (!page.has_more) break;
      }
    } catch (error) {
      stop();
      throw error;
    }
    for (const event of buffered) {
      if (event.seq <= cursor) continue;
      cursor = event.seq;
      send(toPartnerRevocation(event));
    }
    live = true;
    return { cursor, stop };
  }
}
