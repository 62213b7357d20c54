import { createECDH, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { crc32c } from '@ctp/ctp-core';

/**
 * A local server speaking the real Cloud KMS gRPC API (google.cloud.kms.v1.KeyManagementService,
 * loaded from the protos @google-cloud/kms ships), signing with real P-256 keys. It implements
 * CreateKeyRing, CreateCryptoKey, CreateCryptoKeyVersion, GetCryptoKeyVersion,
 * ListCryptoKeyVersions, GetPublicKey and AsymmetricSign for EC_SIGN_P256_SHA256 keys;
 * every other method answers UNIMPLEMENTED. Faults can be injected for tests.
 */

/** Deliberate misbehaviour: each breaks one integrity property a KMS client must check. */
export type KmsFault =
  /** AsymmetricSign answers a signatureCrc32c that does not match the signature. */
  | 'corrupt_signature_crc32c'
  /** AsymmetricSign answers verifiedDigestCrc32c=false (as if the request CRC32C was lost). */
  | 'unverified_digest_crc32c'
  /** AsymmetricSign answers with another key version's name. */
  | 'wrong_name'
  /** AsymmetricSign signs a different digest than the one sent (CRC32C fields all correct). */
  | 'wrong_digest'
  /** AsymmetricSign answers bytes that are not a DER ECDSA signature (CRC32C correct). */
  | 'malformed_der'
  /** GetPublicKey answers a pemCrc32c that does not match the PEM. */
  | 'corrupt_pem_crc32c'
  /** Calls are accepted but never answered (until the server stops): client deadlines must end them. */
  | 'no_answer';

const ALGORITHM = 'EC_SIGN_P256_SHA256';
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

interface Version {
  name: string;
  privateKey: KeyObject;
  state: 'ENABLED' | 'DISABLED' | 'DESTROYED';
  createTime: { seconds: string; nanos: number };
}

interface CryptoKey {
  name: string;
  versions: Version[];
  createTime: { seconds: string; nanos: number };
}

class RpcError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

function loadService(): ServiceDefinition {
  const kmsRoot = dirname(require.resolve('@google-cloud/kms/package.json'));
  // google-gax (the client's runtime) ships the google/api and google/longrunning protos; its main is build/src/index.js.
  const gaxProtos = join(dirname(require.resolve('google-gax', { paths: [kmsRoot] })), '..', 'protos');
  const definition = loadSync('google/cloud/kms/v1/service.proto', {
    includeDirs: [join(kmsRoot, 'build', 'protos'), gaxProtos],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const service = definition['google.cloud.kms.v1.KeyManagementService'];
  if (!service || 'format' in service) throw new Error('KeyManagementService not found in the KMS protos');
  return service as ServiceDefinition;
}

function bigintOf(bytes: Buffer): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`);
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

function derInteger(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
}

/**
 * ECDSA P-256 over a SHA-256 digest the caller already computed (what KMS receives), as
 * DER. node:crypto only signs messages it hashes itself, so the nonce point k·G comes from
 * OpenSSL's scalar multiplication (ECDH public key of k) and s = k⁻¹(z + r·d) mod n.
 */
export function signP256Digest(privateKey: KeyObject, digest: Buffer): Buffer {
  const d = bigintOf(Buffer.from((privateKey.export({ format: 'jwk' }) as { d: string }).d, 'base64url'));
  const z = bigintOf(digest) % P256_ORDER;
  for (;;) {
    const k = bigintOf(randomBytes(32));
    if (k === 0n || k >= P256_ORDER) continue;
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(k.toString(16).padStart(64, '0'), 'hex'));
    const point = ecdh.getPublicKey(); // 0x04 || x || y
    const r = bigintOf(point.subarray(1, 33)) % P256_ORDER;
    if (r === 0n) continue;
    const s = (modPow(k, P256_ORDER - 2n, P256_ORDER) * ((z + r * d) % P256_ORDER)) % P256_ORDER;
    if (s === 0n) continue;
    const body = Buffer.concat([derInteger(r), derInteger(s)]);
    return Buffer.concat([Buffer.from([0x30, body.length]), body]);
  }
}

const timestamp = () => {
  const ms = Date.now();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
};

const int64Of = (value: { value?: string | number } | null | undefined) =>
  value === null || value === undefined || value.value === undefined ? undefined : Number(value.value);

export class KmsStandIn {
  /** Active fault, or none. */
  fault: KmsFault | undefined;
  /** AsymmetricSign requests received (answered or not). */
  signCalls = 0;
  private readonly keyRings = new Set<string>();
  private readonly keys = new Map<string, CryptoKey>();
  private readonly held: Array<() => void> = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** host:port for CTP_KMS_ENDPOINT. */
  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(port = 0): Promise<KmsStandIn> {
    const server = new Server();
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
    );
    const kms = new KmsStandIn(server, bound);
    server.addService(loadService(), kms.handlers());
    return kms;
  }

  /** Creates (in process) a key ring, an EC_SIGN_P256_SHA256 key and its first version; returns the version name. */
  createSigningKey(keyRing = 'projects/ctp-test/locations/global/keyRings/ctp', keyId = `tokens-${randomBytes(4).toString('hex')}`): string {
    this.keyRings.add(keyRing);
    const key = this.addKey(keyRing, keyId);
    return this.addVersion(key).name;
  }

  /** Adds a new version to the key of `versionName`'s CryptoKey; returns its name. */
  createVersion(cryptoKeyName: string): string {
    return this.addVersion(this.key(cryptoKeyName)).name;
  }

  /** Public key PEM of a version, for checking what clients publish. */
  publicKeyPem(versionName: string): string {
    return createPublicKey(this.version(versionName).privateKey).export({ type: 'spki', format: 'pem' }) as string;
  }

  /** Stops at once: clients see UNAVAILABLE from now on; held calls are cancelled. */
  async stop(): Promise<void> {
    this.server.forceShutdown();
    for (const release of this.held.splice(0)) {
      try {
        release();
      } catch {
        // the client gave up on this call already
      }
    }
  }

  private addKey(keyRing: string, keyId: string): CryptoKey {
    if (!/^[a-zA-Z0-9_-]{1,63}$/.test(keyId)) throw new RpcError(status.INVALID_ARGUMENT, 'crypto key id must match [a-zA-Z0-9_-]{1,63}');
    const name = `${keyRing}/cryptoKeys/${keyId}`;
    if (this.keys.has(name)) throw new RpcError(status.ALREADY_EXISTS, `${name} already exists`);
    const key: CryptoKey = { name, versions: [], createTime: timestamp() };
    this.keys.set(name, key);
    return key;
  }

  private addVersion(key: CryptoKey): Version {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const version: Version = {
      name: `${key.name}/cryptoKeyVersions/${key.versions.length + 1}`,
      privateKey: createPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' })),
      state: 'ENABLED',
      createTime: timestamp(),
    };
    key.versions.push(version);
    return version;
  }

  private key(name: string): CryptoKey {
    const key = this.keys.get(name);
    if (!key) throw new RpcError(status.NOT_FOUND, `${name} not found`);
    return key;
  }

  private version(name: string): Version {
    const match = /^(.+)\/cryptoKeyVersions\/(\d+)$/.exec(name);
    const version = match ? this.keys.get(match[1]!)?.versions[Number(match[2]) - 1] : undefined;
    if (!version) throw new RpcError(status.NOT_FOUND, `${name} not found`);
    return version;
  }

  private versionMessage(v: Version) {
    return { name: v.name, state: v.state, protectionLevel: 'SOFTWARE', algorithm: ALGORITHM, createTime: v.createTime, generateTime: v.createTime };
  }

  private keyMessage(k: CryptoKey) {
    return { name: k.name, purpose: 'ASYMMETRIC_SIGN', createTime: k.createTime, versionTemplate: { algorithm: ALGORITHM, protectionLevel: 'SOFTWARE' } };
  }

  private handlers(): UntypedServiceImplementation {
    type Req = Record<string, unknown>;
    const unary =
      (handle: (request: Req) => object) =>
      (call: ServerUnaryCall<Req, object>, callback: sendUnaryData<object>): void => {
        if (this.fault === 'no_answer') {
          this.held.push(() => callback({ code: status.UNAVAILABLE, details: 'stand-in stopped' }));
          return;
        }
        try {
          callback(null, handle(call.request));
        } catch (error) {
          if (error instanceof RpcError) callback({ code: error.code, details: error.message });
          else callback({ code: status.INTERNAL, details: (error as Error).message });
        }
      };
    const asymmetricSign = unary((req) => this.asymmetricSign(req));
    return {
      AsymmetricSign: (call: ServerUnaryCall<Req, object>, callback: sendUnaryData<object>) => {
        this.signCalls++;
        asymmetricSign(call, callback);
      },
      CreateKeyRing: unary((req) => {
        const name = `${String(req.parent)}/keyRings/${String(req.keyRingId)}`;
        if (this.keyRings.has(name)) throw new RpcError(status.ALREADY_EXISTS, `${name} already exists`);
        this.keyRings.add(name);
        return { name, createTime: timestamp() };
      }),
      CreateCryptoKey: unary((req) => {
        const parent = String(req.parent);
        if (!this.keyRings.has(parent)) throw new RpcError(status.NOT_FOUND, `${parent} not found`);
        const template = (req.cryptoKey as { purpose?: string; versionTemplate?: { algorithm?: string } } | null) ?? {};
        if (template.purpose !== 'ASYMMETRIC_SIGN' || template.versionTemplate?.algorithm !== ALGORITHM) {
          throw new RpcError(status.INVALID_ARGUMENT, `this stand-in supports only ASYMMETRIC_SIGN keys with ${ALGORITHM}`);
        }
        const key = this.addKey(parent, String(req.cryptoKeyId));
        if (req.skipInitialVersionCreation !== true) this.addVersion(key);
        return this.keyMessage(key);
      }),
      CreateCryptoKeyVersion: unary((req) => this.versionMessage(this.addVersion(this.key(String(req.parent))))),
      GetCryptoKeyVersion: unary((req) => this.versionMessage(this.version(String(req.name)))),
      ListCryptoKeyVersions: unary((req) => {
        const versions = this.key(String(req.parent)).versions;
        return { cryptoKeyVersions: versions.map((v) => this.versionMessage(v)), nextPageToken: '', totalSize: versions.length };
      }),
      GetPublicKey: unary((req) => {
        const version = this.enabled(String(req.name));
        const pem = this.publicKeyPem(version.name);
        const pemCrc32c = crc32c(pem) ^ (this.fault === 'corrupt_pem_crc32c' ? 1 : 0);
        return { pem, algorithm: ALGORITHM, pemCrc32c: { value: String(pemCrc32c >>> 0) }, name: version.name, protectionLevel: 'SOFTWARE', publicKeyFormat: 'PEM' };
      }),
    };
  }

  private asymmetricSign(req: Record<string, unknown>): object {
    const version = this.enabled(String(req.name));
    const digest = (req.digest as { sha256?: Buffer } | null)?.sha256;
    if (!digest || digest.length !== 32) throw new RpcError(status.INVALID_ARGUMENT, `${ALGORITHM} needs digest.sha256 of 32 bytes`);
    const sentCrc = int64Of(req.digestCrc32c as { value?: string } | null);
    if (sentCrc !== undefined && sentCrc !== crc32c(digest)) {
      throw new RpcError(status.INVALID_ARGUMENT, 'The checksum in field digest_crc32c did not match the data in field digest.');
    }
    const signed = this.fault === 'wrong_digest' ? createHash('sha256').update(digest).digest() : digest;
    let signature = signP256Digest(version.privateKey, signed);
    if (this.fault === 'malformed_der') signature = Buffer.concat([signature, Buffer.from([0])]);
    const signatureCrc32c = crc32c(signature) ^ (this.fault === 'corrupt_signature_crc32c' ? 1 : 0);
    return {
      signature,
      signatureCrc32c: { value: String(signatureCrc32c >>> 0) },
      verifiedDigestCrc32c: sentCrc !== undefined && this.fault !== 'unverified_digest_crc32c',
      name: this.fault === 'wrong_name' ? version.name.replace(/\d+$/, (n) => String(Number(n) + 1)) : version.name,
      protectionLevel: 'SOFTWARE',
    };
  }

  private enabled(name: string): Version {
    const version = this.version(name);
    if (version.state !== 'ENABLED') throw new RpcError(status.FAILED_PRECONDITION, `${name} is not enabled, current state is: ${version.state}`);
    return version;
  }
}
