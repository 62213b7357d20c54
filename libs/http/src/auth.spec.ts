import type { Server } from 'node:http';
import { generateApiKey, PartnerRegistry } from '@ctp/partners';
import { DEMO_PARTNER } from '@ctp/partners/internal';
import { apiRouter, createServiceApp } from './app';
import { partnerAuth, partnerOf } from './auth';
import { baseUrl, close, listen } from './listen';
import { createLogger } from './logger';

const key = generateApiKey('acme');
const registry = PartnerRegistry.parse({
  partners: [{ id: 'acme', name: 'Acme', api_key_hashes: [key.hash], processors: ['*'], policy_uri: 'https://acme.example/p' }],
});

async function start(devPartner?: typeof DEMO_PARTNER) {
  const router = apiRouter();
  router.get('/who', partnerAuth({ registry, devPartner }), (_req, res) => {
    res.json({ partner: partnerOf(res).id });
  });
  return listen(createServiceApp({ routers: [router], readiness: {}, logger: createLogger('test') }), 0, '127.0.0.1');
}

describe('partnerAuth', () => {
  let strict: Server;
  let dev: Server;
  beforeAll(async () => {
    strict = await start();
    dev = await start(DEMO_PARTNER);
  });
  afterAll(async () => {
    await close(strict);
    await close(dev);
  });

  const who = async (server: Server, authorization?: string) => {
    const res = await fetch(`${baseUrl(server)}/who`, { headers: authorization ? { authorization } : {} });
    return { status: res.status, challenge: res.headers.get('www-authenticate'), body: (await res.json()) as Record<string, unknown> };
  };

  it('requires a valid bearer key outside dev mode', async () => {
    expect(await who(strict, `Bearer ${key.apiKey}`)).toMatchObject({ status: 200, body: { partner: 'acme' } });
    for (const header of [undefined, 'Bearer nope.nope', `Basic ${key.apiKey}`, 'Bearer ']) {
      const r = await who(strict, header);
      expect(r).toMatchObject({ status: 401, challenge: 'Bearer realm="ctp"', body: { code: 'unauthenticated' } });
      expect(JSON.stringify(r.body)).not.toContain(key.apiKey);
    }
  });

  it('in dev mode acts as the demo partner without a credential, but still checks one that is sent', async () => {
    expect(await who(dev)).toMatchObject({ status: 200, body: { partner: 'demo' } });
    expect(await who(dev, `Bearer ${key.apiKey}`)).toMatchObject({ status: 200, body: { partner: 'acme' } });
    expect((await who(dev, 'Bearer wrong.key')).status).toBe(401);
  });
});
