import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JwksClient } from './jwks_client';
import { KeyDirectory } from './key_directory';

describe('JwksClient', () => {
  const keys = KeyDirectory.open(join(mkdtempSync(join(tmpdir(), 'ctp-jwks-')), 'keys'));
  let fetches = 0;
  let extra: unknown[] = [];
  let server: Server;
  let url: string;

  beforeAll(async () => {
    server = createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [...keys.jwks().keys, ...extra] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    fetches = 0;
    extra = [];
  });

  it('fetches, caches by kid, and is ready afterwards', async () => {
    const client = new JwksClient(url, { cooldownMs: 60_000 });
    expect(client.ready).toBe(false);
    const kid = keys.signingKey().kid;
    expect(await client.resolve(kid)).toBeDefined();
    expect(await client.resolve(kid)).toBeDefined();
    expect(client.ready).toBe(true);
    expect(fetches).toBe(1);
  });

  it('refetches for an unknown kid at most once per cooldown, so forged kids cannot flood the issuer', async () => {
    const client = new JwksClient(url, { cooldownMs: 300 });
    await client.refresh();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => client.resolve(`forged-${i}`)));
    expect(results.every((k) => k === undefined)).toBe(true);
    expect(fetches).toBe(1);
    const rotated = keys.rotate();
    expect(await client.resolve(rotated)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 350));
    expect(await client.resolve(rotated)).toBeDefined();
    expect(fetches).toBe(2);
  });

  it('keeps only ES256 P-256 public keys', async () => {
    extra = [
      { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' },
      { kty: 'RSA', n: 'AQAB', e: 'AQAB', kid: 'rsa' },
      { ...keys.jwks().keys[0], kid: 'hs', alg: 'HS256' },
    ];
    const client = new JwksClient(url);
    await client.refresh();
    for (const kid of ['hmac', 'rsa', 'hs']) expect(client.cached(kid)).toBeUndefined();
  });
});
