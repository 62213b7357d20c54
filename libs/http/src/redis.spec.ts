import { REDIS_URL } from '@ctp/testing';
import { connectRedis } from './redis';

describe('connectRedis', () => {
  it('connects to the deployment Redis, and is absent without a URL (embedded mode)', async () => {
    const redis = await connectRedis(REDIS_URL);
    expect(await redis!.ping()).toBe('PONG');
    redis!.disconnect();
    expect(await connectRedis(undefined)).toBeUndefined();
  });

  it('names the server when it is not reachable', async () => {
    await expect(connectRedis('redis://127.0.0.1:1', 1_000)).rejects.toThrow(/Redis is not reachable at redis:\/\/127.0.0.1:1/);
  });
});
