import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBus } from '@ctp/bus';
import { buildClaims, publicJwkOf, type ContextEnvelope } from '@ctp/ctp-core';
import { signEs256 } from '@ctp/ctp-core/internal';
import { JwksClient, KeyDirectory } from '@ctp/keys';
import { REVOCATION_STREAM_SPEC, TOKEN_OWNER_STREAM_SPEC } from '@ctp/events';
import { RevocationSync, TokenOwnerRegistry } from '@ctp/revocation';
import { RevocationService } from '@ctp/revocation/internal';
import { MemoryRevocationStore } from '@ctp/revocation/internal';
import { DEMO_PARTNER } from '@ctp/partners/internal';
import { GUIDE_ENVELOPE, signatureCases } from '@ctp/testing';
import { Introspector } from './introspector';

/**
 * Malformed ES256 signatures through the whole introspection path (decode, key
 * lookup, verification, claims), each denied with its stable reason, and JWKS
 * entries that are not P-256 points never becoming verification keys.
 */
const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const P = BigInt('0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff');
const ISSUER = 'http://ctp.test';
const keys = KeyDirectory.open(join(mkdtempSync(join(tmpdir(), 'ctp-ecdsa-')), 'keys'));
const envelope: ContextEnvelope = { ...GUIDE_ENVELOPE, features: [...GUIDE_ENVELOPE.features] };
const int32 = (v: bigint) => Buffer.from(v.toString(16).padStart(64, '0'), 'hex');

function token(jti = 'c0b3e1f8-4567-4890-abcd-1234567890ab') {
  const claims = buildClaims({ envelope, issuer: ISSUER, sub: 's', jti, policyUri: 'https://p', nowSeconds: Math.floor(Date.now() / 1000), ttlSeconds: 240 });
  const { kid, privateKey } = keys.signingKey();
  return signEs256(claims, kid, privateKey);
}

async function world() {
  const bus = new MemoryBus();
  await bus.ensureStreams([REVOCATION_STREAM_SPEC, TOKEN_OWNER_STREAM_SPEC]);
  const store = new MemoryRevocationStore();
  const revocations = new RevocationSync({ bus, store });
  await revocations.start();
  return { revocations, service: new RevocationService({ bus, store, owners: new TokenOwnerRegistry(bus) }), stop: () => revocations.stop() };
}

describe('introspection of malformed ES256 signatures', () => {
  const t = token();
  const [h, p, sig] = t.split('.') as [string, string, string];
  const raw = Buffer.from(sig, 'base64url');
  const r = BigInt(`0x${raw.subarray(0, 32).toString('hex')}`);
  const s = BigInt(`0x${raw.subarray(32).toString('hex')}`);
  const withSig = (b: Buffer) => `${h}.${p}.${b.toString('base64url')}`;
  let w: Awaited<ReturnType<typeof world>>;
  let introspector: Introspector;
  beforeAll(async () => {
    w = await world();
    introspector = new Introspector({ keys, issuer: ISSUER, revocations: w.revocations });
  });
  afterAll(() => w.stop());

  // The same cases run against POST /introspect, the SDK and jose in apps/ctp/src/decision_parity.spec.ts.
  const cases = signatureCases(t, keys.signingKey(), token('0b3e1f80-4567-4890-abcd-1234567890ab')).filter(([, , reason]) => reason !== null);

  it.each(cases.map(([name, bad, reason]) => [name, reason, bad] as const))('%s is denied as %s', async (_name, reason, bad) => {
    expect(await introspector.introspect(bad, envelope)).toMatchObject({ active: false, decision: 'deny', reason, jti: null, sub: null });
  });

  it('allows the genuine token, and treats its high-S twin as the same consent: revoking the jti denies both', async () => {
    const twin = withSig(Buffer.concat([int32(r), int32(N - s)]));
    expect((await introspector.introspect(t, envelope)).decision).toBe('allow');
    expect(await introspector.introspect(twin, envelope)).toMatchObject({ decision: 'allow', jti: 'c0b3e1f8-4567-4890-abcd-1234567890ab' });
    await w.service.revoke(DEMO_PARTNER, 'c0b3e1f8-4567-4890-abcd-1234567890ab', 'user_revoked');
    await new Promise((resolve) => setImmediate(resolve));
    for (const each of [t, twin]) expect(await introspector.introspect(each, envelope)).toMatchObject({ decision: 'deny', reason: 'revoked' });
  });
});

describe('a JWKS serving keys that are not P-256 points', () => {
  let server: Server;
  let url: string;
  let served: unknown[] = [];
  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/jwk-set+json');
      res.end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const good = () => publicJwkOf(keys.cached(keys.signingKey().kid)!, keys.signingKey().kid);
  const coordinate = (v: bigint) => int32(v).toString('base64url');
  const invalid = (kid: string) => {
    const g = good();
    const y = BigInt(`0x${Buffer.from(g.y, 'base64url').toString('hex')}`);
    return [
      { ...g, kid: `${kid}-infinity`, x: coordinate(0n), y: coordinate(0n) },
      { ...g, kid: `${kid}-offcurve`, y: coordinate((y + 1n) % P) },
      { ...g, kid: `${kid}-twist`, x: coordinate(1n), y: coordinate(1n) },
      { ...g, kid: `${kid}-x-is-p`, x: coordinate(P) },
      { ...g, kid: `${kid}-short`, x: g.x.slice(0, 42) },
    ];
  };

  it('keeps the genuine key and drops every invalid point', async () => {
    served = [good(), ...invalid('bad')];
    const client = new JwksClient(url, { cooldownMs: 60_000 });
    await client.refresh();
    expect(client.cached(good().kid)).toBeDefined();
    for (const k of invalid('bad')) expect(client.cached(k.kid)).toBeUndefined();
  });

  it('denies a token whose kid names only an invalid-curve point as unknown_kid', async () => {
    const kid = keys.signingKey().kid;
    served = invalid('x').map((k) => ({ ...k, kid }));
    const client = new JwksClient(url, { cooldownMs: 60_000 });
    await client.refresh();
    expect(client.ready).toBe(true);
    expect(client.cached(kid)).toBeUndefined();
    const w = await world();
    const introspector = new Introspector({ keys: client, issuer: ISSUER, revocations: w.revocations });
    expect(await introspector.introspect(token(), envelope)).toMatchObject({ decision: 'deny', reason: 'unknown_kid' });
    await w.stop();
  });
});
