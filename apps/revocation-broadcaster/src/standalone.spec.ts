import { allNotFound, postJson, spellingStatuses, startService, tsEntry } from '@ctp/testing';
import { loadBroadcasterConfig } from './config';

describe('revocation-broadcaster service', () => {
  it('has defaults that run locally', () => {
    expect(loadBroadcasterConfig({})).toMatchObject({ CTP_PORT: 8003, CTP_DEV_MODE: false });
  });

  it('answers /revoke on its own port, and 404 to every other spelling of its paths (none escapes the rate limit)', async () => {
    const service = await startService(tsEntry('apps/revocation-broadcaster/src/main.ts'), { CTP_DEV_MODE: 'true', CTP_RATE_LIMIT_REVOKE: '1/60s' });
    try {
      const jti = 'c0b3e1f8-4567-4890-abcd-1234567890ab';
      expect(await postJson(`${service.url}/revoke`, { jti, reason: 'user_revoked' })).toMatchObject({ status: 200, body: { status: 'ok', revoked: jti } });
      expect(await postJson(`${service.url}/revoke`, { jti })).toMatchObject({ status: 429, body: { code: 'rate_limited' } });
      expect(await spellingStatuses(service.url, 'POST', '/revoke', {}, JSON.stringify({ jti }))).toEqual(allNotFound('/revoke'));
      for (const path of ['/revocations', '/revocations/stream', '/healthz', '/readyz', '/metrics']) expect(await spellingStatuses(service.url, 'GET', path)).toEqual(allNotFound(path));
      expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${service.url}/readyz`)).json()).toMatchObject({ checks: { clock: true } });
    } finally {
      await service.stop();
    }
  });
});
