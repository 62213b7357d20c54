import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
// Type-only: the client libraries load on first use, so services without KMS never pay for them.
import type { KeyManagementServiceClient } from '@google-cloud/kms';
import type { credentials as grpcCredentials } from '@grpc/grpc-js';
import { CRYPTO_KEY_VERSION_PATTERN } from '@ctp/config';
import { crc32c, publicJwkOf, type Es256PublicJwk } from '@ctp/ctp-core';
import { KeyDirectory, type KeyDirectoryOptions } from './key_directory';
import { derToJoseEs256 } from './ecdsa_der';
import { SigningUnavailableError, type Signer, type TokenKeys } from './signer';

const KMS_ALGORITHM = 'EC_SIGN_P256_SHA256';
export const DEFAULT_KMS_TIMEOUT_MS = 3000;

export interface KmsKeysOptions {
  /** The CryptoKeyVersion (EC_SIGN_P256_SHA256) that signs new tokens. */
  signingVersion: string;
  /** More versions published in the JWKS without signing (the next key, or the previous one until its tokens expire). */
  publishedVersions?: readonly string[];
  /** host:port of a local, plaintext KMS API endpoint (a stand-in). Unset: Google's endpoint with Application Default Credentials. */
  endpoint?: string;
  /** Deadline of every KMS call; a call is never retried past it. */
  timeoutMs?: number;
}

/** The stable kid of a CryptoKeyVersion: `kms-` and 16 base64url characters of SHA-256 of its resource name. */
export function kmsKid(versionName: string): string {
  return `kms-${createHash('sha256').update(versionName).digest('base64url').slice(0, 16)}`;
}

/**
 * Client options for `endpoint`: plaintext gRPC (`sslCreds` replaces the Google call
 * credentials, so no token is ever fetched) and the universe domain given to the auth
 * library up front, so it never probes the GCE metadata server for one.
 */
export function kmsClientOptions(
  endpoint: string | undefined,
  credentials: typeof grpcCredentials,
): ConstructorParameters<typeof KeyManagementServiceClient>[0] {
  if (endpoint === undefined) return {};
  const match = /^(.+):(\d{1,5})$/.exec(endpoint);
  if (!match) throw new TypeError('KMS endpoint must be host:port');
  return {
    servicePath: match[1]!.replace(/^\[(.*)\]$/, '$1'),
    port: Number(match[2]),
    sslCreds: credentials.createInsecure(),
    clientOptions: { universeDomain: 'googleapis.com' },
  };
}

/** A KMS client for `endpoint` (unset: Google's, with Application Default Credentials). */
export function createKmsClient(endpoint: string | undefined): KeyManagementServiceClient {
  // Loaded on first use (see the type-only imports above).
  const { KeyManagementServiceClient: Client } = require('@google-cloud/kms') as typeof import('@google-cloud/kms');
  const { credentials } = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
  return new Client(kmsClientOptions(endpoint, credentials));
}

function int64(value: { value?: number | string | { toString(): string } | null } | null | undefined): number | undefined {
  if (value?.value === undefined || value.value === null) return undefined;
  return Number(value.value.toString());
}

function grpcReason(error: unknown): string {
  const e = error as { code?: unknown; details?: unknown };
  return typeof e.code === 'number' ? `gRPC status ${e.code}${typeof e.details === 'string' ? ` (${e.details.slice(0, 120)})` : ''}` : String(error);
}

/** One KMS CryptoKeyVersion as a Signer: AsymmetricSign over the SHA-256 digest, every integrity field checked. */
export class KmsSigner implements Signer {
  readonly alg = 'ES256' as const;
  readonly kid: string;

  constructor(
    private readonly client: KeyManagementServiceClient,
    readonly versionName: string,
    readonly publicKey: KeyObject,
    private readonly timeoutMs: number,
  ) {
    this.kid = kmsKid(versionName);
  }

  async sign(data: Buffer): Promise<Buffer> {
    const digest = createHash('sha256').update(data).digest();
    let response;
    try {
      [response] = await this.client.asymmetricSign(
        { name: this.versionName, digest: { sha256: digest }, digestCrc32c: { value: crc32c(digest) } },
        { timeout: this.timeoutMs, retry: null },
      );
    } catch (error) {
      throw new SigningUnavailableError('unavailable', `Cloud KMS AsymmetricSign failed: ${grpcReason(error)}`, { cause: error });
    }
    const integrity = (what: string) => new SigningUnavailableError('integrity', `Cloud KMS AsymmetricSign answer failed its integrity check: ${what}`);
    if (response.name !== this.versionName) throw integrity('it names another key version');
    if (response.verifiedDigestCrc32c !== true) throw integrity('KMS did not verify the digest CRC32C');
    const signature = response.signature ? Buffer.from(response.signature) : Buffer.alloc(0);
    if (int64(response.signatureCrc32c) !== crc32c(signature)) throw integrity('signature CRC32C mismatch');
    let jose: Buffer;
    try {
      jose = derToJoseEs256(signature);
    } catch (error) {
      throw new SigningUnavailableError('integrity', `Cloud KMS AsymmetricSign answer failed its integrity check: ${(error as Error).message}`);
    }
    if (!verify('sha256', data, { key: this.publicKey, dsaEncoding: 'ieee-p1363' }, jose)) throw integrity('the signature does not verify against the version public key');
    return jose;
  }
}

/**
 * ES256 token keys held in Cloud KMS: one CryptoKeyVersion signs, others may be published
 * alongside it (rotation: publish the next version first, switch, keep the old one published
 * until its tokens have expired). Public keys come from GetPublicKey once per version
 * (a version's key never changes), checked against pemCrc32c, name and algorithm.
 */
export class KmsKeys implements TokenKeys {
  readonly ready = true;

  private constructor(
    private readonly client: KeyManagementServiceClient,
    private readonly signing: KmsSigner,
    private readonly published: Map<string, KeyObject>,
    private readonly jwksKeys: Es256PublicJwk[],
  ) {}

  static async open(options: KmsKeysOptions, client?: KeyManagementServiceClient): Promise<KmsKeys> {
    client ??= createKmsClient(options.endpoint);
    const timeoutMs = options.timeoutMs ?? DEFAULT_KMS_TIMEOUT_MS;
    const versions = [options.signingVersion, ...(options.publishedVersions ?? []).filter((v) => v !== options.signingVersion)];
    for (const v of versions) if (!CRYPTO_KEY_VERSION_PATTERN.test(v)) throw new TypeError(`not a CryptoKeyVersion resource name: ${v}`);
    try {
      const publicKeys = await Promise.all(versions.map((v) => fetchPublicKey(client, v, timeoutMs)));
      const published = new Map(versions.map((v, i) => [kmsKid(v), publicKeys[i]!]));
      const jwks = versions.map((v, i) => publicJwkOf(publicKeys[i]!, kmsKid(v)));
      return new KmsKeys(client, new KmsSigner(client, options.signingVersion, publicKeys[0]!, timeoutMs), published, jwks);
    } catch (error) {
      await client.close().catch(() => undefined);
      throw error;
    }
  }

  async signer(): Promise<Signer> {
    return this.signing;
  }

  jwks(): { keys: Es256PublicJwk[] } {
    return { keys: [...this.jwksKeys] };
  }

  cached(kid: string): KeyObject | undefined {
    return this.published.get(kid);
  }

  async resolve(kid: string): Promise<KeyObject | undefined> {
    return this.cached(kid);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

async function fetchPublicKey(client: KeyManagementServiceClient, name: string, timeoutMs: number): Promise<KeyObject> {
  let response;
  try {
    [response] = await client.getPublicKey({ name }, { timeout: timeoutMs, retry: null });
  } catch (error) {
    throw new SigningUnavailableError('unavailable', `Cloud KMS GetPublicKey ${name} failed: ${grpcReason(error)}`, { cause: error });
  }
  const bad = (what: string) => new SigningUnavailableError('integrity', `Cloud KMS GetPublicKey ${name}: ${what}`);
  if (response.name !== name) throw bad('the answer names another key version');
  if (response.algorithm !== KMS_ALGORITHM) throw bad(`algorithm ${String(response.algorithm)}, expected ${KMS_ALGORITHM}`);
  const pem = response.pem ?? '';
  if (int64(response.pemCrc32c) !== crc32c(pem)) throw bad('PEM CRC32C mismatch');
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw bad('not a P-256 public key');
  return key;
}

/** Where the issuer's token keys live (libs/config tokenKeyOptions reads them from CTP_KMS_* and CTP_KEY_*). */
export interface TokenKeyOptions {
  /** Local key directory, used when `kmsKey` is unset. */
  keyDir: string;
  kmsKey?: string;
  kmsPublishedKeys?: readonly string[];
  kmsEndpoint?: string;
  kmsTimeoutMs?: number;
  /** Rotation policy of the local key directory. */
  policy?: KeyDirectoryOptions;
}

export interface OpenedTokenKeys {
  keys: TokenKeys;
  /** The local key directory, when it is the source: rotation states, dual control and the age check apply to it. */
  directory?: KeyDirectory;
  source: string;
  close(): Promise<void>;
}

/**
 * The issuer's token keys from its settings (CTP_KMS_* / the key directory): Cloud KMS when
 * a CryptoKeyVersion is configured, else the local key directory. `close` ends the KMS client.
 */
export async function openTokenKeys(settings: TokenKeyOptions): Promise<OpenedTokenKeys> {
  if (settings.kmsKey === undefined) {
    if (settings.kmsPublishedKeys?.length || settings.kmsEndpoint !== undefined) throw new TypeError('CTP_KMS_PUBLISHED_KEYS and CTP_KMS_ENDPOINT need CTP_KMS_KEY');
    const directory = KeyDirectory.open(settings.keyDir, undefined, settings.policy);
    return { keys: directory, directory, source: `key directory ${settings.keyDir}`, close: async () => undefined };
  }
  const keys = await KmsKeys.open({
    signingVersion: settings.kmsKey,
    publishedVersions: settings.kmsPublishedKeys,
    endpoint: settings.kmsEndpoint,
    timeoutMs: settings.kmsTimeoutMs,
  });
  return { keys, source: `Cloud KMS ${settings.kmsKey}${settings.kmsEndpoint ? ` at ${settings.kmsEndpoint}` : ''}`, close: () => keys.close() };
}
