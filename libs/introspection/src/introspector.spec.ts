import { GUIDE_ENVELOPE } from '@ctp/testing';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildClaims, type ContextEnvelope } from '@ctp/ctp-core';
import { signEs256 } from '@ctp/ctp-core/internal';
import { KeyDirectory, type VerificationKeys } from '@ctp/keys';
import { MemoryBus } from '@ctp/bus';
import { REVOCATION_STREAM_SPEC, TOKEN_OWNER_STREAM_SPEC } from '@ctp/events';
import { RevocationSync, TokenOwnerRegistry } from '@ctp/revocation';
import { RevocationService } from '@ctp/revocation/internal';
import { MemoryRevocationStore } from '@ctp/revocation/internal';
import { DEMO_PARTNER } from '@ctp/partners/internal';
import { Introspector } from './introspector';

const keys = KeyDirectory.open(join(mkdtempSync(join(tmpdir(), 'ctp-introspect-')), 'keys'));
const envelope: ContextEnvelope = { ...GUIDE_ENVELOPE, features: [...GUIDE_ENVELOPE.features] };
const JTI = '00000000-0000-4000-8000-000000000001';
const jtiNo = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

function token(overrides: Record<string, unknown> = {}, nowSeconds = Math.floor(Date.now() / 1000)) {
  const claims = buildClaims({ envelope, issuer: 'http://ctp.test', sub: 's', jti: JTI, policyUri: 'p', nowSeconds, ttlSeconds: 240 });
  const { kid, privateKey } = keys.signingKey();
  return signEs256({ ...claims, ...overrides }, kid, privateKey);
}

/** Counts key resolutions, to observe the verified-token cache. */
class CountingKeys implements VerificationKeys {
  resolves = 0;
  published = true;
  readonly ready = true;
  cached(kid: string) {
    return this.published ? keys.cached(kid) : undefined;
  }
  async resolve(kid: string) {
    this.resolves++;
    return this.cached(kid);
  }
}

async function revocationWorld() {
  const bus = new MemoryBus();
  await bus.ensureStreams([REVOCATION_STREAM_SPEC, TOKEN_OWNER_STREAM_SPEC]);
  const store = new MemoryRevocationStore();
  const revocations = new RevocationSync({ bus, store });
  await revocations.start();
  return { revocations, service: new RevocationService({ bus, store, owners: new TokenOwnerRegistry(bus) }), stop: () => revocations.stop() };
}

describe('Introspector', () => {
  it('verifies once, then serves the signature from the cache while checking revocation every time', async () => {
    const counting = new CountingKeys();
    const world = await revocationWorld();
    const introspector = new Introspector({ keys: counting, issuer: 'http://ctp.test', revocations: world.revocations });
    const t = token();
    expect((await introspector.introspect(t, envelope)).decision).toBe('allow');
    expect((await introspector.introspect(t, envelope)).decision).toBe('allow');
    expect(counting.resolves).toBe(1);
    await world.service.revoke(DEMO_PARTNER, JTI, 'user_revoked');
    await new Promise((r) => setImmediate(r));
    expect(await introspector.introspect(t, envelope)).toMatchObject({ decision: 'deny', reason: 'revoked', jti: JTI });
    await world.stop();
  });

  it('stops honouring cached tokens once their key leaves the JWKS', async () => {
    const counting = new CountingKeys();
    const introspector = new Introspector({ keys: counting, issuer: 'http://ctp.test', revocations: (await revocationWorld()).revocations });
    const t = token();
    expect((await introspector.introspect(t, envelope)).decision).toBe('allow');
    counting.published = false;
    expect(await introspector.introspect(t, envelope)).toMatchObject({ decision: 'deny', reason: 'unknown_kid', jti: null });
  });

  it('denies a revoked key at once, even for a cached token while the JWKS still publishes the key', async () => {
    const counting = new CountingKeys();
    const revoked = new Set<string>();
    const introspector = new Introspector({
      keys: counting,
      issuer: 'http://ctp.test',
      revocations: (await revocationWorld()).revocations,
      revokedKeys: { isKeyRevoked: (kid) => revoked.has(kid) },
    });
    const t = token();
    expect((await introspector.introspect(t, envelope)).decision).toBe('allow');
    revoked.add(keys.signingKey().kid);
    expect(counting.cached(keys.signingKey().kid)).toBeDefined();
    expect(await introspector.introspect(t, envelope)).toEqual({ active: false, decision: 'deny', reason: 'key_revoked', sub: null, jti: null, scope: null, purpose: null });
    expect(await introspector.introspect(token({ jti: jtiNo(2) }), envelope)).toMatchObject({ reason: 'key_revoked' });
  });

  it('bounds the cache and drops expired tokens from it', async () => {
    const introspector = new Introspector({ keys, issuer: 'http://ctp.test', revocations: (await revocationWorld()).revocations, cacheSize: 2 });
    for (let i = 0; i < 5; i++) await introspector.introspect(token({ jti: jtiNo(10 + i) }), envelope);
    expect(introspector.cachedTokens).toBe(2);
    const old = token({}, Math.floor(Date.now() / 1000) - 1000);
    expect((await introspector.introspect(old, envelope)).reason).toBe('expired');
    expect(introspector.cachedTokens).toBe(1);
  });

  it('bounds the cache by bytes too, keeping only what the decision reads', async () => {
    const counting = new CountingKeys();
    const introspector = new Introspector({ keys: counting, issuer: 'http://ctp.test', revocations: (await revocationWorld()).revocations, cacheBytes: 1500 });
    const tokens = Array.from({ length: 10 }, (_, i) => token({ jti: jtiNo(20 + i) }));
    for (const t of tokens) expect((await introspector.introspect(t, envelope)).decision).toBe('allow');
    const perToken = introspector.cachedTokenBytes / introspector.cachedTokens;
    expect(introspector.cachedTokens).toBeGreaterThan(0);
    expect(introspector.cachedTokenBytes).toBeLessThanOrEqual(1500);
    expect(introspector.cachedTokens).toBe(Math.floor(1500 / perToken));
    // The newest tokens stay cached (no new verification); the same answer as a first-seen one.
    const resolves = counting.resolves;
    const again = await introspector.introspect(tokens[9]!, envelope);
    expect(counting.resolves).toBe(resolves);
    expect(again).toEqual({ active: true, decision: 'allow', reason: null, sub: 's', jti: jtiNo(29), scope: ['sentiment.read', 'tone.read'], purpose: envelope.purpose });
  });

  it('denies signed tokens whose claims are incomplete, without echoing them', async () => {
    const introspector = new Introspector({ keys, issuer: 'http://ctp.test', revocations: (await revocationWorld()).revocations });
    expect(await introspector.introspect(token({ exp: 'soon' }), envelope)).toMatchObject({ reason: 'invalid_claims', sub: null });
    expect(await introspector.introspect(token({ consent_version: 'ctp-9' }), envelope)).toMatchObject({ reason: 'invalid_claims' });
  });
});
