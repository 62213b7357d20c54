import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { FaultProxy } from './fault_proxy';

/** An upstream that echoes, and records each data event's size. */
async function echoServer() {
  const reads: number[] = [];
  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      reads.push(chunk.length);
      socket.write(chunk);
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, reads, port: (server.address() as { port: number }).port };
}

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends `data` and resolves with the echo once `data.length` bytes came back, and the time it took. */
async function roundTrip(socket: Socket, data: Buffer): Promise<{ echoed: Buffer; ms: number }> {
  const started = performance.now();
  const chunks: Buffer[] = [];
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= data.length) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  socket.write(data);
  await done;
  return { echoed: Buffer.concat(chunks), ms: performance.now() - started };
}

describe('FaultProxy', () => {
  let echo: Awaited<ReturnType<typeof echoServer>>;
  let proxy: FaultProxy;
  let seed = 1;
  beforeEach(async () => {
    echo = await echoServer();
    // A seeded generator: the jitter is the same in every run.
    proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: echo.port }, random: () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646 });
  });
  afterEach(async () => {
    await proxy.close();
    echo.server.close();
  });

  it('passes bytes through unchanged in both directions', async () => {
    const socket = await connect(proxy.port);
    const data = randomBytes(200_000);
    const { echoed } = await roundTrip(socket, data);
    expect(echoed.equals(data)).toBe(true);
    expect(proxy.stats).toMatchObject({ connections: 1, bytesUp: 200_000, bytesDown: 200_000, resets: 0 });
    socket.destroy();
  });

  it('adds latency (with jitter) in each direction, changed at run time on an open connection', async () => {
    const socket = await connect(proxy.port);
    proxy.set({ latencyMs: 100, jitterMs: 50 });
    const slow = await roundTrip(socket, Buffer.from('ping'));
    // One way at least 100 ms, so the round trip at least 200 ms (a lower bound: never flaky).
    expect(slow.ms).toBeGreaterThanOrEqual(199);
    proxy.clear();
    const { echoed } = await roundTrip(socket, Buffer.from('pong'));
    expect(echoed.toString()).toBe('pong');
    socket.destroy();
  });

  it('limits bandwidth per direction, keeping the bytes in order', async () => {
    proxy.set({ bandwidthBytesPerSec: 100_000 });
    const socket = await connect(proxy.port);
    const data = randomBytes(30_000);
    const { echoed, ms } = await roundTrip(socket, data);
    expect(echoed.equals(data)).toBe(true);
    // 30 kB each way at 100 kB/s: at least 600 ms in all.
    expect(ms).toBeGreaterThanOrEqual(595);
    socket.destroy();
  });

  it('slices the stream into pieces of at most sliceBytes', async () => {
    proxy.set({ sliceBytes: 7, sliceDelayMs: 2 });
    const socket = await connect(proxy.port);
    const data = Buffer.from('a'.repeat(70));
    const { echoed } = await roundTrip(socket, data);
    expect(echoed.equals(data)).toBe(true);
    expect(proxy.stats.pieces).toBe(20); // 10 pieces each way
    // (How the receiver's TCP stack coalesces the pieces is its business, not the proxy's.)
    socket.destroy();
  });

  it('resets new connections, or a connection after a number of bytes', async () => {
    proxy.set({ reset: true });
    const refused = createConnection({ host: '127.0.0.1', port: proxy.port });
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNRESET');

    proxy.set({ reset: false, resetAfterBytes: 1000 });
    const socket = await connect(proxy.port);
    const cut = roundTrip(socket, randomBytes(5000));
    await expect(cut).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(proxy.stats.resets).toBeGreaterThanOrEqual(2);
  });

  it('swallows data while timing out, and forwards again once toggled off', async () => {
    proxy.set({ timeout: true });
    const socket = await connect(proxy.port);
    const answered = roundTrip(socket, Buffer.from('hello')).then(() => 'answered');
    const first = await Promise.race([answered, new Promise((r) => setTimeout(() => r('no answer'), 300))]);
    expect(first).toBe('no answer');
    expect(echo.reads).toEqual([]);
    socket.destroy();
    proxy.set({ timeout: false });
    const again = await connect(proxy.port);
    expect((await roundTrip(again, Buffer.from('hello'))).echoed.toString()).toBe('hello');
    again.destroy();
  });

  it('resets every open connection on demand', async () => {
    const socket = await connect(proxy.port);
    await roundTrip(socket, Buffer.from('x'));
    const closed = once(socket, 'error');
    proxy.resetAll();
    const [error] = (await closed) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNRESET');
  });
});
