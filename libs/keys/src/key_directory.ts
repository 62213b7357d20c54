import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VerificationKeys } from './verification_keys';
import { LocalSigner, type Signer } from './signer';
import { publicJwkOf, type Es256PublicJwk } from '@ctp/ctp-core';
import {
  DEFAULT_KEY_POLICY,
  keySnapshot,
  planRevocation,
  planRotation,
  type KeyPolicy,
  type KeySnapshot,
  type KeyVersion,
  type KeyView,
} from './key_states';

/** keys.json: every key version in creation order; the states derive from the timestamps (key_states.ts). */
interface KeyFile {
  version: 2;
  keys: KeyVersion[];
}

/** Version 1 listed keys oldest first, the last active: each key activated when it was created. */
interface KeyFileV1 {
  version: 1;
  keys: { kid: string; created_at: number }[];
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
}

export interface KeyDirectoryOptions {
  /** Seconds a rotated-in key is published before it signs (default 120; keep it above the JWKS max-age). */
  prePublishSeconds?: number;
  /** Seconds after which the active key is due for rotation (default 90 days). */
  rotationPeriodSeconds?: number;
}

const STATE_FILE = 'keys.json';
const RELOAD_CHECK_MS = 1000;
const nowS = () => Math.floor(Date.now() / 1000);

function writePrivate(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
}

function newKid(nowSeconds: number): string {
  const month = new Date(nowSeconds * 1000).toISOString().slice(0, 7);
  return `key-${month}-${randomBytes(4).toString('hex')}`;
}

function parseKeyFile(text: string, path: string): KeyVersion[] {
  const parsed = JSON.parse(text) as KeyFile | KeyFileV1;
  if (!Array.isArray(parsed.keys) || parsed.keys.length === 0) throw new Error(`${path} has no keys`);
  if (parsed.version === 1) return parsed.keys.map((k) => ({ kid: k.kid, created_at: k.created_at, activates_at: k.created_at }));
  if (parsed.version === 2) return parsed.keys;
  throw new Error(`${path} has an unknown version`);
}

/**
 * ES256 keys in a local directory (dev, `ctp up`, and issuers sharing a volume):
 * one PKCS#8 PEM per key (0600) and keys.json recording every key version's
 * timestamps. States (pending, active, retiring, retired, revoked) are derived on
 * every read from those timestamps and the clock, so processes sharing the
 * directory agree without timers, and pick up a change within a second.
 */
export class KeyDirectory implements VerificationKeys {
  private versions: KeyVersion[] = [];
  private lastSnapshot?: { at: number; versions: readonly KeyVersion[]; snapshot: KeySnapshot };
  private readonly privateKeys = new Map<string, KeyObject>();
  private publicJwks = new Map<string, Es256PublicJwk>();
  private publicKeys = new Map<string, KeyObject>();
  private readonly signers = new Map<string, LocalSigner>();
  private mtimeMs = 0;
  private lastCheck = 0;
  readonly policy: KeyPolicy;

  private constructor(
    readonly dir: string,
    options: KeyDirectoryOptions,
  ) {
    this.policy = {
      ...DEFAULT_KEY_POLICY,
      prePublishSeconds: options.prePublishSeconds ?? DEFAULT_KEY_POLICY.prePublishSeconds,
      rotationPeriodSeconds: options.rotationPeriodSeconds ?? DEFAULT_KEY_POLICY.rotationPeriodSeconds,
    };
  }

  static open(dir: string, nowSeconds = nowS(), options: KeyDirectoryOptions = {}): KeyDirectory {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const store = new KeyDirectory(dir, options);
    try {
      statSync(join(dir, STATE_FILE));
    } catch {
      const kid = store.newKeyFile(nowSeconds);
      store.save([{ kid, created_at: nowSeconds, activates_at: nowSeconds }]);
    }
    store.load();
    return store;
  }

  /**
   * Starts a rotation: a new key is published now and signs once the pre-publish
   * period has passed; the current key then retires. Returns the new kid.
   */
  rotate(nowSeconds = nowS()): string {
    this.load();
    const kid = newKid(nowSeconds);
    const next = planRotation(this.versions, kid, nowSeconds, this.policy);
    this.newKeyFile(nowSeconds, kid);
    this.save(next);
    return kid;
  }

  /**
   * Emergency revocation: `kid` leaves the JWKS at once; if it was signing, a new
   * key signs from now on. Returns the replacement kid, if one was made.
   */
  revoke(kid: string, nowSeconds = nowS()): { replacement?: string } {
    this.load();
    const replacement = newKid(nowSeconds);
    const plan = planRevocation(this.versions, kid, replacement, nowSeconds, this.policy);
    if (plan.replaced) this.newKeyFile(nowSeconds, replacement);
    this.save(plan.keys);
    return plan.replaced ? { replacement } : {};
  }

  /** The active key as a Signer: with jwks() this makes a KeyDirectory the issuer's TokenKeys. */
  async signer(): Promise<Signer> {
    const { kid, privateKey } = this.signingKey();
    let signer = this.signers.get(kid);
    if (!signer) {
      signer = new LocalSigner(kid, privateKey);
      this.signers.set(kid, signer);
    }
    return signer;
  }

  /** Every key version's state at `nowSeconds`, newest first. */
  states(nowSeconds = nowS()): KeyView[] {
    return this.snapshot(nowSeconds).views;
  }

  /** Seconds the active key has been signing. */
  activeKeyAgeSeconds(nowSeconds = nowS()): number {
    return this.snapshot(nowSeconds).activeAgeSeconds;
  }

  signingKey(nowSeconds = nowS()): SigningKey {
    const kid = this.snapshot(nowSeconds).active?.kid;
    if (kid === undefined) throw new Error(`${this.dir} has no key that may sign`);
    return { kid, privateKey: this.privateKey(kid) };
  }

  /** Pending, active and retiring keys, newest first. Never empty while a key may sign. */
  jwks(nowSeconds = nowS()): { keys: Es256PublicJwk[] } {
    return { keys: this.liveKids(nowSeconds).map((kid) => this.publicJwks.get(kid)!) };
  }

  readonly ready = true;

  /** In-process verification (`ctp up`): exactly the keys the JWKS publishes. */
  cached(kid: string): KeyObject | undefined {
    return this.liveKids(nowS()).includes(kid) ? this.publicKeys.get(kid) : undefined;
  }

  async resolve(kid: string): Promise<KeyObject | undefined> {
    return this.cached(kid);
  }

  private liveKids(nowSeconds: number): string[] {
    return this.snapshot(nowSeconds).published;
  }

  /**
   * The states at `nowSeconds`, derived once per second and key file: every issue and
   * every in-process introspection asks, and the answer changes only with either.
   */
  private snapshot(nowSeconds: number): KeySnapshot {
    this.reloadIfChanged();
    const last = this.lastSnapshot;
    if (last && last.at === nowSeconds && last.versions === this.versions) return last.snapshot;
    const snapshot = keySnapshot(this.versions, nowSeconds, this.policy);
    this.lastSnapshot = { at: nowSeconds, versions: this.versions, snapshot };
    return snapshot;
  }

  private newKeyFile(nowSeconds: number, kid = newKid(nowSeconds)): string {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writePrivate(join(this.dir, `${kid}.pem`), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    return kid;
  }

  private save(keys: KeyVersion[]): void {
    const file: KeyFile = { version: 2, keys };
    writePrivate(join(this.dir, STATE_FILE), `${JSON.stringify(file, null, 2)}\n`);
    this.load();
  }

  private privateKey(kid: string): KeyObject {
    let key = this.privateKeys.get(kid);
    if (!key) {
      key = createPrivateKey(readFileSync(join(this.dir, `${kid}.pem`)));
      this.privateKeys.set(kid, key);
    }
    return key;
  }

  private load(): void {
    const path = join(this.dir, STATE_FILE);
    const versions = parseKeyFile(readFileSync(path, 'utf8'), path);
    const jwks = new Map<string, Es256PublicJwk>();
    const publicKeys = new Map<string, KeyObject>();
    for (const k of versions) {
      const publicKey = createPublicKey(this.privateKey(k.kid));
      publicKeys.set(k.kid, publicKey);
      jwks.set(k.kid, publicJwkOf(publicKey, k.kid));
    }
    this.versions = versions;
    this.publicJwks = jwks;
    this.publicKeys = publicKeys;
    this.mtimeMs = statSync(path).mtimeMs;
    this.lastCheck = Date.now();
  }

  private reloadIfChanged(): void {
    const now = Date.now();
    if (now - this.lastCheck < RELOAD_CHECK_MS) return;
    this.lastCheck = now;
    if (statSync(join(this.dir, STATE_FILE)).mtimeMs !== this.mtimeMs) this.load();
  }
}

/** Reads a secret file, creating it with 32 random bytes (0600) on first run. */
export function loadOrCreateSecret(path: string): Buffer {
  try {
    return Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  } catch {
    writePrivate(path, `${randomBytes(32).toString('base64')}\n`);
    return Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  }
}
