import { execFileSync } from 'node:child_process';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { privateNats, privateRedis } from './private_servers';
import { portOpen, serverAddress, stopNats, stopRedis } from './servers';

const redisCli = (url: string, ...args: string[]) => {
  const { host, port } = serverAddress(url, 6379);
  return execFileSync('redis-cli', ['-h', host, '-p', String(port), '--raw', ...args], { encoding: 'utf8' }).trim();
};

describe('stopping and restarting the servers a URL names', () => {
  it('reads host and port from server URLs, with the default port', () => {
    expect(serverAddress('nats://127.0.0.1:14222', 4222)).toEqual({ host: '127.0.0.1', port: 14222 });
    expect(serverAddress('127.0.0.1:4222', 1)).toEqual({ host: '127.0.0.1', port: 4222 });
    expect(serverAddress('redis://localhost', 6379)).toEqual({ host: 'localhost', port: 6379 });
  });

  it('restarts NATS with the same command line: JetStream keeps its file store', async () => {
    const server = await privateNats();
    const stored = async (publish: boolean) => {
      const nc = await connect({ servers: server.url });
      try {
        const jsm = await jetstreamManager(nc);
        if (publish) {
          await jsm.streams.add({ name: 'KEPT', subjects: ['kept'] });
          await jetstream(nc).publish('kept', 'x');
        }
        return (await jsm.streams.info('KEPT')).state.messages;
      } finally {
        await nc.close();
      }
    };
    try {
      expect(await stored(true)).toBe(1);
      const start = await stopNats(server.url);
      expect(await portOpen(server.port)).toBe(false);
      await start();
      expect(await stored(false)).toBe(1);
      // The restarted server is no longer this test's child: stop it the same way.
      await stopNats(server.url);
    } finally {
      await server.destroy();
    }
  });

  it('restarts Redis on the same port, empty (nothing is saved)', async () => {
    const server = await privateRedis();
    try {
      redisCli(server.url, 'set', 'k', 'v');
      const start = await stopRedis(server.url);
      expect(await portOpen(server.port)).toBe(false);
      await start();
      expect(redisCli(server.url, 'get', 'k')).toBe('');
      expect(redisCli(server.url, 'config', 'get', 'save')).toBe('save');
      await stopRedis(server.url);
    } finally {
      await server.destroy();
    }
  });
});
