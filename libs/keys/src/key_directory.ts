import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VerificationKeys } from './verification_keys';
import { LocalSigner, type Signer } from './signer';
import { CLOCK_SKEW_SECONDS, MAX_TOKEN_TTL_SECONDS, publicJwkOf, type Es256PublicJwk } from '@ctp/ctp-core';

interface KeyRecord {
  kid: string;
  created_at: number;
  /** When it stopped signing; it stays in the JWKS until every token it signed has expired. */
  retired_at?: number;
}

interface KeyState {
  version: 1;
  /** Oldest first; the last one is the active signing key. */
  keys: KeyRecord[];
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
}

const STATE_FILE = 'keys.json';
const RELOAD_CHECK_MS = 1000;

function writePrivate(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
}

function newKid(nowSeconds: number): string {
  const month = new Date(nowSeconds * 1000).toISOString().slice(0, 7);
  return `key-${month}-${randomBytes(4).toString('hex')}`;
}

/**
 * ES256 keys in a local directory (dev and `ctp up`): one PKCS#8 PEM per key (0600)
 * and keys.json naming the active key and the retired ones. Processes sharing the
 * directory pick up a rotation by `ctp keys rotate` within a second.
 */
export class KeyDirectory implements VerificationKeys {
  private state!: KeyState;
  private readonly privateKeys = new Map<string, KeyObject>();
  private publicJwks = new Map<string, Es256PublicJwk>();
  private publicKeys = new Map<string, KeyObject>();
  private readonly signers = new Map<string, LocalSigner>();
  private mtimeMs = 0;
  private lastCheck = 0;

  private constructor(readonly dir: string) {}

  static open(dir: string, nowSeconds = Math.floor(Date.now() / 1000)): KeyDirectory {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const store = new KeyDirectory(dir);
    try {
      statSync(join(dir, STATE_FILE));
    } catch {
      store.addKey({ version: 1, keys: [] }, nowSeconds);
    }
    store.load();
    return store;
  }

  /** Generates a new active key; the previous one retires but keeps verifying. Returns the new kid. */
  rotate(nowSeconds = Math.floor(Date.now() / 1000)): string {
    this.load();
    const state: KeyState = {
      version: 1,
      keys: this.state.keys.map((k) => (k.retired_at === undefined ? { ...k, retired_at: nowSeconds } : k)),
    };
    const kid = this.addKey(state, nowSeconds);
    this.load();
    return kid;
  }

  signingKey(): SigningKey {
    this.reloadIfChanged();
    const active = this.state.keys[this.state.keys.length - 1]!;
    return { kid: active.kid, privateKey: this.privateKey(active.kid) };
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

  /** The active key and every retired key that may still have signed a live token. Never empty. */
  jwks(nowSeconds = Math.floor(Date.now() / 1000)): { keys: Es256PublicJwk[] } {
    return { keys: this.liveKids(nowSeconds).map((kid) => this.publicJwks.get(kid)!) };
  }

  readonly ready = true;

  /** In-process verification (`ctp up`): exactly the keys the JWKS publishes. */
  cached(kid: string): KeyObject | undefined {
    return this.liveKids(Math.floor(Date.now() / 1000)).includes(kid) ? this.publicKeys.get(kid) : undefined;
  }

  async resolve(kid: string): Promise<KeyObject | undefined> {
    return this.cached(kid);
  }

  private liveKids(nowSeconds: number): string[] {
    this.reloadIfChanged();
    const horizon = MAX_TOKEN_TTL_SECONDS + CLOCK_SKEW_SECONDS;
    return this.state.keys
      .filter((k) => k.retired_at === undefined || k.retired_at + horizon > nowSeconds)
      .map((k) => k.kid)
      .reverse();
  }

  private addKey(state: KeyState, nowSeconds: number): string {
    const kid = newKid(nowSeconds);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writePrivate(join(this.dir, `${kid}.pem`), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    state.keys.push({ kid, created_at: nowSeconds });
    writePrivate(join(this.dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
    return kid;
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
    const state = JSON.parse(readFileSync(path, 'utf8')) as KeyState;
    if (state.version !== 1 || !Array.isArray(state.keys) || state.keys.length === 0) throw new Error(`${path} has no keys`);
    const jwks = new Map<string, Es256PublicJwk>();
    const publicKeys = new Map<string, KeyObject>();
    for (const k of state.keys) {
      const publicKey = createPublicKey(this.privateKey(k.kid));
      publicKeys.set(k.kid, publicKey);
      jwks.set(k.kid, publicJwkOf(publicKey, k.kid));
    }
    this.state = state;
    this.publicJwks = jwks;
    this.publicKeys = publicKeys;
    this.mtimeMs = statSync(path).mtimeMs;
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
