import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLOCK_SKEW_SECONDS, decodeCompactJws, MAX_TOKEN_TTL_SECONDS, verifyJwsSignature } from '@ctp/ctp-core';
import { signEs256 } from '@ctp/ctp-core/internal';
import { KeyDirectory, loadOrCreateSecret } from './key_directory';

const tempDir = () => join(mkdtempSync(join(tmpdir(), 'ctp-keys-')), 'keys');

function verifies(keys: KeyDirectory, token: string): boolean {
  const decoded = decodeCompactJws(token);
  if (!decoded.ok) return false;
  const key = keys.cached(decoded.jws.header.kid);
  return key !== undefined && verifyJwsSignature(decoded.jws, key);
}

describe('KeyDirectory', () => {
  it('creates one ES256 key on first run, private files 0600 in a 0700 directory', () => {
    const dir = tempDir();
    const keys = KeyDirectory.open(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(dir)) expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
    const { kid } = keys.signingKey();
    expect(kid).toMatch(/^key-\d{4}-\d{2}-[0-9a-f]{8}$/);
    expect(keys.jwks().keys).toEqual([{ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid, alg: 'ES256', use: 'sig' }]);
    expect(JSON.stringify(keys.jwks())).not.toMatch(/"d"/);
    expect(KeyDirectory.open(dir).signingKey().kid).toBe(kid);
  });

  it('rotation publishes the next key first, never invalidates a live token, and retires the old key after the last one expires', () => {
    const now = 1_800_000_000;
    const keys = KeyDirectory.open(tempDir(), now);
    const old = keys.signingKey(now);
    const token = signEs256({ n: 1 }, old.kid, old.privateKey);
    const next = keys.rotate(now + 10);
    expect(keys.jwks(now + 10).keys.map((k) => k.kid)).toEqual([next, old.kid]);
    expect(keys.signingKey(now + 10).kid).toBe(old.kid);
    const activation = now + 10 + keys.policy.prePublishSeconds;
    expect(keys.policy.prePublishSeconds).toBeGreaterThan(60);
    expect(keys.signingKey(activation - 1).kid).toBe(old.kid);
    expect(keys.signingKey(activation).kid).toBe(next);
    expect(keys.states(activation).map((k) => [k.kid, k.status])).toEqual([[next, 'active'], [old.kid, 'retiring']]);
    expect(verifies(keys, token)).toBe(true);
    const horizon = activation + MAX_TOKEN_TTL_SECONDS + CLOCK_SKEW_SECONDS;
    expect(keys.jwks(horizon - 1).keys).toHaveLength(2);
    expect(keys.jwks(horizon).keys.map((k) => k.kid)).toEqual([next]);
    expect(keys.states(horizon).map((k) => k.status)).toEqual(['active', 'retired']);
  });

  it('revokes a compromised active key at once, with a replacement that signs immediately', () => {
    const now = 1_800_000_000;
    const keys = KeyDirectory.open(tempDir(), now);
    const old = keys.signingKey(now).kid;
    const { replacement } = keys.revoke(old, now + 5);
    expect(keys.signingKey(now + 5).kid).toBe(replacement);
    expect(keys.jwks(now + 5).keys.map((k) => k.kid)).toEqual([replacement]);
    expect(keys.cached(old)).toBeUndefined();
  });

  it('reads a version 1 keys.json written before key states', () => {
    const dir = tempDir();
    const keys = KeyDirectory.open(dir, 1_800_000_000);
    const kid = keys.signingKey(1_800_000_000).kid;
    writeFileSync(join(dir, 'keys.json'), JSON.stringify({ version: 1, keys: [{ kid, created_at: 1_800_000_000 }] }));
    expect(KeyDirectory.open(dir).signingKey().kid).toBe(kid);
  });

  it('lets another process see a rotation through the shared directory', async () => {
    const dir = tempDir();
    const a = KeyDirectory.open(dir);
    const b = KeyDirectory.open(dir);
    const before = a.signingKey().kid;
    const rotated = b.rotate(Math.floor(Date.now() / 1000) - b.policy.prePublishSeconds);
    await new Promise((r) => setTimeout(r, 1100));
    expect(a.signingKey().kid).toBe(rotated);
    expect(a.jwks().keys.map((k) => k.kid)).toEqual([rotated, before]);
  });

  it('keeps a generated secret stable across runs', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ctp-secret-')), 'subject.secret');
    const first = loadOrCreateSecret(path);
    expect(first).toHaveLength(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadOrCreateSecret(path)).toEqual(first);
  });
});
