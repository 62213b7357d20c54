import { createHash, generateKeyPairSync, verify } from 'node:crypto';
import type { KeyManagementServiceClient } from '@google-cloud/kms';
import { MemoryBus } from '@ctp/bus';
import { decodeCompactJws, verifyJwsSignature, type IssueRequest } from '@ctp/ctp-core';
import { crc32c } from '@ctp/ctp-core';
import { SigningUnavailableError } from '@ctp/keys';
import { createKmsClient, KmsKeys, kmsKid } from '@ctp/keys/internal';
import type { Partner } from '@ctp/partners';
import { TOKEN_OWNER_STREAM_SPEC } from '@ctp/events';
import { TokenOwnerRegistry } from '@ctp/revocation';
import { GUIDE_ENVELOPE, KmsStandIn, signP256Digest, type KmsFault } from '@ctp/testing';
import { IssuanceService } from './issuance_service';

const acme: Partner = { id: 'acme', name: 'Acme', processors: ['*'], policyUri: 'https://acme.example/p' };
const request: IssueRequest = { ...GUIDE_ENVELOPE, features: [...GUIDE_ENVELOPE.features] };

describe('IssuanceService signing in Cloud KMS (local KMS API stand-in over gRPC)', () => {
  let kms: KmsStandIn;
  let version: string;
  let keys: KmsKeys;
  let client: KeyManagementServiceClient;

  beforeAll(async () => {
    kms = await KmsStandIn.start();
    version = kms.createSigningKey();
    keys = await KmsKeys.open({ signingVersion: version, endpoint: kms.endpoint, timeoutMs: 1000 });
    client = createKmsClient(kms.endpoint);
  });
  afterAll(async () => {
    await keys?.close();
    await client?.close();
    await kms?.stop();
  });
  afterEach(() => {
    kms.fault = undefined;
  });

  function service() {
    const ledger = new MemoryBus();
    const registry = new TokenOwnerRegistry(ledger);
    const recorded: string[] = [];
    const owners = {
      owner: (jti: string) => registry.owner(jti),
      recorded,
      setOwner: (jti: string, owner: { partnerId: string; expiresAt: number }) => {
        recorded.push(jti);
        return registry.setOwner(jti, owner);
      },
    };
    return { owners, ledger, issuance: new IssuanceService({ keys, owners, events: ledger, issuer: 'http://ctp.test', ttlSeconds: 240, subjectSecret: Buffer.alloc(32, 1) }) };
  }

  it('the stand-in signs a given SHA-256 digest with a real P-256 key (node:crypto verifies it)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (let i = 0; i < 20; i++) {
      const data = Buffer.from(`message ${i}`);
      const der = signP256Digest(privateKey, createHash('sha256').update(data).digest());
      expect(verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, der)).toBe(true);
    }
  });

  it('issues a token signed through AsymmetricSign that verifies against the published key', async () => {
    const { ledger, owners, issuance } = service();
    await ledger.ensureStreams([{ name: 'CTP_LEDGER', subjects: ['ctp.ledger.>'], maxAgeMs: 60_000 }, TOKEN_OWNER_STREAM_SPEC]);
    const issued = await issuance.issue(acme, request);
    const decoded = decodeCompactJws(issued.token);
    if (!decoded.ok) throw new Error(decoded.reason);
    expect(decoded.jws.header.kid).toBe(kmsKid(version));
    expect(verifyJwsSignature(decoded.jws, keys.cached(kmsKid(version))!)).toBe(true);
    expect(keys.jwks().keys.map((k) => k.kid)).toEqual([kmsKid(version)]);
    expect(await owners.owner(issued.jti)).toMatchObject({ partnerId: 'acme' });
  });

  it('the KMS API refuses a digest whose digestCrc32c does not match, and confirms one that does', async () => {
    const digest = createHash('sha256').update('x').digest();
    await expect(client.asymmetricSign({ name: version, digest: { sha256: digest }, digestCrc32c: { value: crc32c(digest) ^ 1 } }, { timeout: 2000, retry: null })).rejects.toMatchObject({
      code: 3,
      details: expect.stringMatching(/digest_crc32c did not match/),
    });
    const [ok] = await client.asymmetricSign({ name: version, digest: { sha256: digest }, digestCrc32c: { value: crc32c(digest) } }, { timeout: 2000, retry: null });
    expect(ok).toMatchObject({ name: version, verifiedDigestCrc32c: true });
    expect(Number(ok.signatureCrc32c?.value)).toBe(crc32c(Buffer.from(ok.signature as Uint8Array)));
  });

  it.each<[KmsFault, RegExp]>([
    ['corrupt_signature_crc32c', /signature CRC32C mismatch/],
    ['unverified_digest_crc32c', /did not verify the digest CRC32C/],
    ['wrong_name', /names another key version/],
    ['wrong_digest', /does not verify against the version public key/],
    ['malformed_der', /ECDSA signature/],
    ['no_answer', /gRPC status 4/],
  ])('rejects an AsymmetricSign answer with %s, and the service issues nothing', async (fault, why) => {
    const signer = await keys.signer();
    kms.fault = fault;
    await expect(signer.sign(Buffer.from('data'))).rejects.toMatchObject({ name: 'SigningUnavailableError', message: expect.stringMatching(why) });
    const { ledger, owners, issuance } = service();
    await ledger.ensureStreams([{ name: 'CTP_LEDGER', subjects: ['ctp.ledger.>'], maxAgeMs: 60_000 }, TOKEN_OWNER_STREAM_SPEC]);
    await expect(issuance.issue(acme, request)).rejects.toMatchObject({ code: 'unavailable', status: 503, message: expect.stringMatching(/signing key service/) });
    expect(await ledger.lastSeq('CTP_LEDGER')).toBe(0);
    expect(owners.recorded).toEqual([]);
  });

  it('refuses a public key whose pemCrc32c does not match, and a KMS that is not there, within the deadline', async () => {
    kms.fault = 'corrupt_pem_crc32c';
    await expect(KmsKeys.open({ signingVersion: version, endpoint: kms.endpoint, timeoutMs: 1000 })).rejects.toThrow(/PEM CRC32C mismatch/);
    kms.fault = undefined;
    await expect(KmsKeys.open({ signingVersion: `${version.slice(0, -1)}9`, endpoint: kms.endpoint, timeoutMs: 1000 })).rejects.toThrow(/gRPC status 5/);
    const gone = await KmsStandIn.start();
    const endpoint = gone.endpoint;
    await gone.stop();
    const error = await KmsKeys.open({ signingVersion: version, endpoint, timeoutMs: 500 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SigningUnavailableError);
    expect((error as SigningUnavailableError).reason).toBe('unavailable');
  });

  it('publishes further versions (the next key) without signing with them', async () => {
    const next = kms.createVersion(version.replace(/\/cryptoKeyVersions\/\d+$/, ''));
    const both = await KmsKeys.open({ signingVersion: version, publishedVersions: [next], endpoint: kms.endpoint });
    try {
      expect(both.jwks().keys.map((k) => k.kid)).toEqual([kmsKid(version), kmsKid(next)]);
      expect((await both.signer()).kid).toBe(kmsKid(version));
      expect(both.cached(kmsKid(next))).toBeDefined();
    } finally {
      await both.close();
    }
  });
});
