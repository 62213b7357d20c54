import { createPublicKey, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { NatsBus } from '@ctp/bus';
import { decodeCompactJws } from '@ctp/ctp-core';
import { kmsKid } from '@ctp/keys/internal';
import { LEDGER_STREAM_SPEC, TOKEN_OWNER_STREAM, TOKEN_OWNER_STREAM_SPEC, type TokenOwnerRecord } from '@ctp/events';
import { generateApiKey } from '@ctp/partners';
import { TokenOwnerRegistry } from '@ctp/revocation';
import { GUIDE_ENVELOPE, KmsStandIn, NATS_URL, OpenApiContract, postJson, REDIS_URL, startService, tsEntry, waitFor, type KmsFault, type ServiceProcess } from '@ctp/testing';

/**
 * The issuer and an introspector as separate processes, the issuer signing in "Cloud KMS"
 * (the local KMS API stand-in, over real gRPC), with real Redis and NATS JetStream.
 */
describe('issuer signing with Cloud KMS', () => {
  const run = randomBytes(4).toString('hex');
  const partnerId = `kms-${run}`;
  const prefix = `kms-spec:${run}:`;
  const dir = mkdtempSync(join(tmpdir(), 'ctp-kms-'));
  const { apiKey, hash } = generateApiKey(partnerId);
  const auth = { authorization: `Bearer ${apiKey}` };
  const contract = new OpenApiContract();
  let kms: KmsStandIn;
  let version: string;
  let issuer: ServiceProcess;
  let introspector: ServiceProcess;
  let redis: Redis;
  let bus: NatsBus;

  beforeAll(async () => {
    kms = await KmsStandIn.start();
    version = kms.createSigningKey();
    const partners = join(dir, 'partners.json');
    writeFileSync(partners, JSON.stringify({ partners: [{ id: partnerId, name: 'KMS spec', api_key_hashes: [hash], processors: ['*'], policy_uri: 'https://kms.example/policy' }] }));
    const backends = { CTP_PARTNERS_FILE: partners, CTP_NATS_URL: NATS_URL, CTP_REDIS_URL: REDIS_URL, CTP_REDIS_PREFIX: prefix };
    issuer = await startService(tsEntry('apps/issuer/src/main.ts'), {
      ...backends,
      CTP_KMS_KEY: version,
      CTP_KMS_ENDPOINT: kms.endpoint,
      CTP_KMS_TIMEOUT_MS: '1000',
      CTP_KEY_DIR: join(dir, 'keys'),
      CTP_SUBJECT_SECRET_FILE: join(dir, 'subject.secret'),
    });
    introspector = await startService(tsEntry('apps/introspector/src/main.ts'), { ...backends, CTP_JWKS_URL: `${issuer.url}/.well-known/jwks.json` });
    redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    bus = await NatsBus.connect({ servers: NATS_URL, name: `kms-spec-${run}` });
  }, 90_000);

  afterAll(async () => {
    await Promise.all([issuer?.stop(), introspector?.stop()]);
    await kms?.stop();
    if (redis) {
      const keys = await ownedKeys();
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    await bus?.close();
  });

  async function ownedKeys(): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      found.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    return found.sort();
  }

  /** consent.issued events for our partner stored after `fromSeq` on the shared ledger stream. */
  async function issuedEventsSince(fromSeq: number): Promise<Array<{ jti: string; kid: string }>> {
    const found: Array<{ jti: string; kid: string }> = [];
    for (let seq = fromSeq; ; ) {
      const { events, lastSeq } = await bus.read<{ partner_id?: string; jti: string; kid: string }>({
        stream: LEDGER_STREAM_SPEC.name,
        filter: 'ctp.ledger.consent.issued',
        fromSeq: seq,
        max: 500,
      });
      found.push(...events.filter((e) => e.data.partner_id === partnerId).map((e) => ({ jti: e.data.jti, kid: e.data.kid })));
      if (events.length === 0 || lastSeq < seq) return found;
      seq = lastSeq + 1;
    }
  }

  const issue = () => postJson(`${issuer.url}/issue`, GUIDE_ENVELOPE, auth);

  /** Owner records of our partner stored after `fromSeq` on the token owner stream. */
  async function ownersSince(fromSeq: number): Promise<string[]> {
    const { events } = await bus.read<TokenOwnerRecord>({ stream: TOKEN_OWNER_STREAM, filter: TOKEN_OWNER_STREAM_SPEC.subjects[0]!, fromSeq, max: 10_000 });
    return events.filter((e) => e.data.partner_id === partnerId).map((e) => e.subject);
  }

  async function expectNothingIssued(what: () => Promise<void>): Promise<void> {
    const fromSeq = (await bus.lastSeq(LEDGER_STREAM_SPEC.name)) + 1;
    const ownersFrom = (await bus.lastSeq(TOKEN_OWNER_STREAM)) + 1;
    await what();
    expect(await ownersSince(ownersFrom)).toEqual([]);
    expect(await issuedEventsSince(fromSeq)).toEqual([]);
  }

  async function expectSigningUnavailable(): Promise<void> {
    const r = await issue();
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ code: 'unavailable', status: 503, detail: expect.stringMatching(/signing key service is unavailable; no token was issued/) });
    expect(r.text).not.toMatch(/projects\/|cryptoKeyVersions|CRC32C/);
    contract.validate('POST', '/issue', 503, r.contentType, r.body);
  }

  it('publishes the KMS public key in the JWKS under a kid derived from the key version', async () => {
    const res = await fetch(`${issuer.url}/.well-known/jwks.json`);
    const jwks = (await res.json()) as { keys: Array<Record<string, string>> };
    contract.validate('GET', '/.well-known/jwks.json', 200, res.headers.get('content-type') ?? '', jwks);
    const expected = createPublicKey(kms.publicKeyPem(version)).export({ format: 'jwk' });
    expect(jwks.keys).toEqual([{ kty: 'EC', crv: 'P-256', x: expected.x, y: expected.y, kid: kmsKid(version), alg: 'ES256', use: 'sig' }]);
    expect(kmsKid(version)).toMatch(/^kms-[A-Za-z0-9_-]{16}$/);
    expect(existsSync(join(dir, 'keys'))).toBe(false);
  });

  it('issues a token signed in KMS that the introspector verifies, recording its owner and consent.issued', async () => {
    const fromSeq = (await bus.lastSeq(LEDGER_STREAM_SPEC.name)) + 1;
    const calls = kms.signCalls;
    const r = await issue();
    expect(r.status).toBe(200);
    contract.validate('POST', '/issue', 200, r.contentType, r.body);
    expect(kms.signCalls).toBe(calls + 1);
    const token = r.body.token as string;
    const decoded = decodeCompactJws(token);
    expect(decoded.ok && decoded.jws.header.kid).toBe(kmsKid(version));
    await waitFor(async () => (await fetch(`${introspector.url}/readyz`)).status === 200, 15_000, 'introspector ready');
    const decision = await postJson(`${introspector.url}/introspect`, { token, context_envelope: GUIDE_ENVELOPE }, auth);
    expect(decision.body).toMatchObject({ active: true, decision: 'allow', jti: r.body.jti });
    const forged = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    expect((await postJson(`${introspector.url}/introspect`, { token: forged, context_envelope: GUIDE_ENVELOPE }, auth)).body).toMatchObject({ decision: 'deny' });
    expect(await new TokenOwnerRegistry(bus).owner(r.body.jti as string)).toMatchObject({ partnerId });
    expect(await issuedEventsSince(fromSeq)).toEqual([{ jti: r.body.jti, kid: kmsKid(version) }]);
    expect(issuer.output()).not.toContain(token);
  });

  it.each<[KmsFault, string]>([
    ['corrupt_signature_crc32c', 'a signatureCrc32c that does not match the signature'],
    ['unverified_digest_crc32c', 'verifiedDigestCrc32c=false'],
    ['wrong_name', 'the name of another key version'],
    ['wrong_digest', 'a signature over a different digest'],
    ['malformed_der', 'a signature that is not strict DER'],
    ['no_answer', 'no answer before the deadline'],
  ])('answers 503 and issues nothing when KMS answers with %s (%s)', async (fault) => {
    const calls = kms.signCalls;
    kms.fault = fault;
    try {
      await expectNothingIssued(expectSigningUnavailable);
    } finally {
      kms.fault = undefined;
    }
    expect(kms.signCalls).toBe(calls + 1);
    expect((await issue()).status).toBe(200);
  });

  it('answers 503 and issues nothing while KMS is unreachable, and says why in its log', async () => {
    await kms.stop();
    await expectNothingIssued(expectSigningUnavailable);
    await expectNothingIssued(expectSigningUnavailable);
    expect(issuer.output()).toMatch(/AsymmetricSign failed: gRPC status/);
  });
});
