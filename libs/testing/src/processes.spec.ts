import { freePort, waitFor } from './processes';

describe('test process helpers', () => {
  it('finds free loopback ports and times out waits with a message', async () => {
    expect(await freePort()).toBeGreaterThan(0);
    await expect(waitFor(async () => false, 200, 'never')).rejects.toThrow('timed out waiting for never');
  });
});
