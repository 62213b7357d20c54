import { execSync } from 'node:child_process';
import { createConnection } from 'node:net';

/** The real servers the suites use, with the commands CI starts them with. */
export const NATS_URL = process.env.CTP_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
export const REDIS_URL = process.env.CTP_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const NATS_START =
  'start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log';
const REDIS_START =
  'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log';

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.setTimeout(500, () => (socket.destroy(), resolve(false)));
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** Waits until `port` on 127.0.0.1 accepts connections (`open`) or refuses them. */
export async function waitPort(port: number, open: boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await portOpen(port)) === open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not ${open ? 'start' : 'stop'} on port ${port}`);
}

/** Stops the local NATS server (JetStream keeps its file store) and returns a function that starts it again. */
export async function stopNats(): Promise<() => Promise<void>> {
  execSync('start-stop-daemon --stop --oknodo --retry 10 --exec /usr/sbin/nats-server', { stdio: 'ignore' });
  await waitPort(4222, false, 'NATS');
  return async () => {
    execSync(NATS_START, { stdio: 'ignore' });
    await waitPort(4222, true, 'NATS');
  };
}

/** Stops the local Redis (it keeps nothing on disk) and returns a function that starts it again. */
export async function stopRedis(): Promise<() => Promise<void>> {
  execSync('redis-cli -h 127.0.0.1 -p 6379 shutdown nosave', { stdio: 'ignore' });
  await waitPort(6379, false, 'Redis');
  return async () => {
    execSync(REDIS_START, { stdio: 'ignore' });
    await waitPort(6379, true, 'Redis');
  };
}
