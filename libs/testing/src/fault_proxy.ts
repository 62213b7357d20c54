import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A small TCP fault proxy (what Toxiproxy does, for machines without Docker or `tc netem`):
 * it forwards each accepted connection to `target` and applies the current faults to the bytes
 * in both directions. Faults change at run time (`set`), and apply to open connections too.
 */
export interface Faults {
  /** Added one-way delay per forwarded piece, ms. */
  latencyMs: number;
  /** Up to this much more delay, uniformly drawn per piece, ms (order is kept). */
  jitterMs: number;
  /** Bytes per second per direction per connection (0: unlimited). */
  bandwidthBytesPerSec: number;
  /** Forward data in pieces of at most this many bytes (0: as read). */
  sliceBytes: number;
  /** Extra delay between the pieces of one slice run, ms. */
  sliceDelayMs: number;
  /** Reset (TCP RST) every new connection at once. */
  reset: boolean;
  /** Reset a connection once this many bytes went through it, both directions (0: never). */
  resetAfterBytes: number;
  /** Accept connections and swallow their data without forwarding: the peer times out. */
  timeout: boolean;
}

export const NO_FAULTS: Faults = { latencyMs: 0, jitterMs: 0, bandwidthBytesPerSec: 0, sliceBytes: 0, sliceDelayMs: 0, reset: false, resetAfterBytes: 0, timeout: false };

export interface FaultProxyStats {
  connections: number;
  resets: number;
  bytesUp: number;
  bytesDown: number;
  /** Pieces written after slicing, both directions. */
  pieces: number;
}

export interface FaultProxyOptions {
  target: { host: string; port: number };
  /** Where to listen (127.0.0.1, an ephemeral port unless given). */
  host?: string;
  port?: number;
  faults?: Partial<Faults>;
  /** Random numbers in [0, 1) for the jitter (seed it for repeatable runs). */
  random?: () => number;
}

/** Queued bytes per direction before the source is paused. */
const HIGH_WATER = 256 * 1024;

/** One direction of one connection: pieces written in order, each after its delay and its bandwidth share. */
class Pipe {
  private nextAt = 0;
  private queued = 0;
  private closed = false;
  private readonly queue: { at: number; run: () => void }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly proxy: FaultProxy,
    private readonly count: (bytes: number) => void,
  ) {
    from.on('data', (chunk: Buffer) => this.push(chunk));
    from.on('end', () => this.enqueue(this.nextAt, () => to.end()));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.queue.length = 0;
  }

  private push(chunk: Buffer): void {
    const f = this.proxy.faults;
    if (f.timeout) return;
    const size = f.sliceBytes > 0 ? f.sliceBytes : chunk.length;
    for (let offset = 0, i = 0; offset < chunk.length; offset += size, i++) {
      const piece = chunk.subarray(offset, offset + size);
      const delay = f.latencyMs + f.jitterMs * this.proxy.random() + i * f.sliceDelayMs;
      // Never before the previous piece (order), then as long as the bandwidth takes to send it.
      let at = Math.max(Date.now() + delay, this.nextAt);
      if (f.bandwidthBytesPerSec > 0) at += (piece.length / f.bandwidthBytesPerSec) * 1000;
      this.nextAt = at;
      this.queued += piece.length;
      if (this.queued > HIGH_WATER) this.from.pause();
      this.enqueue(at, () => {
        this.queued -= piece.length;
        if (this.queued <= HIGH_WATER / 2) this.from.resume();
        if (this.to.destroyed) return;
        this.to.write(piece);
        this.proxy.stats.pieces++;
        this.count(piece.length);
      });
    }
  }

  private enqueue(at: number, run: () => void): void {
    if (this.closed) return;
    this.queue.push({ at, run });
    if (this.queue.length === 1) this.drain();
  }

  /** Runs the due head of the queue in order, then waits for the next one. */
  private drain(): void {
    clearTimeout(this.timer);
    for (let head = this.queue[0]; head && head.at <= Date.now(); head = this.queue[0]) {
      this.queue.shift();
      head.run();
      if (this.closed) return;
    }
    const head = this.queue[0];
    if (head) this.timer = setTimeout(() => this.drain(), head.at - Date.now());
  }
}

export class FaultProxy {
  faults: Faults;
  readonly stats: FaultProxyStats = { connections: 0, resets: 0, bytesUp: 0, bytesDown: 0, pieces: 0 };
  readonly random: () => number;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly options: FaultProxyOptions,
  ) {
    this.faults = { ...NO_FAULTS, ...options.faults };
    this.random = options.random ?? Math.random;
  }

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const server = createServer();
    const proxy = new FaultProxy(server, options);
    server.on('connection', (client) => proxy.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  get url(): string {
    return `http://${this.options.host ?? '127.0.0.1'}:${this.port}`;
  }

  /** Changes faults from now on (open connections included); unnamed faults stay as they are. */
  set(faults: Partial<Faults>): void {
    this.faults = { ...this.faults, ...faults };
  }

  /** Back to a clean pass-through. */
  clear(): void {
    this.faults = { ...NO_FAULTS };
  }

  /** Resets every open connection now. */
  resetAll(): void {
    for (const socket of this.sockets) this.resetSocket(socket);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private resetSocket(socket: Socket): void {
    if (socket.destroyed) return;
    this.stats.resets++;
    socket.resetAndDestroy();
  }

  private accept(client: Socket): void {
    this.stats.connections++;
    client.setNoDelay(true);
    this.track(client);
    if (this.faults.reset) {
      this.resetSocket(client);
      return;
    }
    const upstream = createConnection({ host: this.options.target.host, port: this.options.target.port });
    upstream.setNoDelay(true);
    this.track(upstream);
    let through = 0;
    const count = (direction: 'bytesUp' | 'bytesDown') => (bytes: number) => {
      this.stats[direction] += bytes;
      through += bytes;
      const limit = this.faults.resetAfterBytes;
      if (limit > 0 && through >= limit) {
        this.resetSocket(client);
        this.resetSocket(upstream);
      }
    };
    const up = new Pipe(client, upstream, this, count('bytesUp'));
    const down = new Pipe(upstream, client, this, count('bytesDown'));
    const teardown = (from: Socket, to: Socket) => () => {
      up.close();
      down.close();
      // An upstream that failed or was reset resets the client too (and the other way round).
      if (!to.destroyed) this.resetSocket(to);
      from.destroy();
    };
    client.on('error', teardown(client, upstream));
    upstream.on('error', teardown(upstream, client));
    client.on('close', () => upstream.end());
    upstream.on('close', () => client.end());
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }
}
