import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { Hash } from './merkle';

/**
 * Checkpoints in the C2SP tlog-checkpoint format, signed as C2SP signed notes:
 *
 *   <origin>\n<tree size>\n<base64 root hash>\n
 *   \n
 *   — <key name> <base64(4-byte key id || signature)>\n   (one line per signature)
 *
 * Key ids are the first 4 bytes of SHA-256(name || 0x0A || type || public key).
 * Type 0x01 is Ed25519 (as the spec defines). ML-DSA-65 has no registered type;
 * CTP uses 0x06 for it, so hybrid notes carry one line per algorithm and
 * verifiers that know only Ed25519 ignore the other line, as signed notes allow.
 */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Hash;
}

export const SIG_TYPE = { ed25519: 0x01, mldsa65: 0x06 } as const;
export type SigAlg = keyof typeof SIG_TYPE;

export function formatCheckpoint(c: Checkpoint): string {
  if (!/^[\x21-\x7e]+$/.test(c.origin)) throw new TypeError('checkpoint origin must be printable ASCII without spaces');
  return `${c.origin}\n${c.size}\n${c.root.toString('base64')}\n`;
}

export function parseCheckpoint(text: string): Checkpoint {
  const lines = text.split('\n');
  const [origin, size, root] = lines;
  if (lines.length < 4 || !origin || !/^(0|[1-9]\d{0,15})$/.test(size ?? '') || !/^[A-Za-z0-9+/]{43}=$/.test(root ?? '')) {
    throw new Error('not a tlog checkpoint (origin, decimal size, base64 SHA-256 root)');
  }
  return { origin, size: Number(size), root: Buffer.from(root!, 'base64') };
}

function rawPublicKey(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' }) as { x?: string; pub?: string };
  const raw = jwk.x ?? jwk.pub;
  if (!raw) throw new TypeError('unsupported public key');
  return Buffer.from(raw, 'base64url');
}

function keyId(name: string, type: number, raw: Buffer): Buffer {
  return createHash('sha256').update(name).update(Buffer.from([0x0a, type])).update(raw).digest().subarray(0, 4);
}

/** A named public key that can check note signatures. Encoded as `<name>+<hex id>+<base64(type || key)>`. */
export class NoteVerifier {
  readonly id: Buffer;
  private constructor(
    readonly name: string,
    readonly alg: SigAlg,
    private readonly raw: Buffer,
    private readonly key: KeyObject,
  ) {
    this.id = keyId(name, SIG_TYPE[alg], raw);
  }

  static fromPublicKey(name: string, publicKey: KeyObject): NoteVerifier {
    const alg: SigAlg = publicKey.asymmetricKeyType === 'ed25519' ? 'ed25519' : 'mldsa65';
    if (publicKey.asymmetricKeyType !== 'ed25519' && publicKey.asymmetricKeyType !== 'ml-dsa-65') throw new TypeError(`unsupported key type ${publicKey.asymmetricKeyType}`);
    return new NoteVerifier(name, alg, rawPublicKey(publicKey), publicKey);
  }

  static parse(vkey: string): NoteVerifier {
    const [name, idHex] = vkey.split('+', 2);
    const keyB64 = vkey.slice((name?.length ?? 0) + (idHex?.length ?? 0) + 2);
    if (!name || !idHex || !keyB64) throw new Error('verifier key is <name>+<hex id>+<base64 key>');
    const bytes = Buffer.from(keyB64, 'base64');
    const alg = (Object.keys(SIG_TYPE) as SigAlg[]).find((a) => SIG_TYPE[a] === bytes[0]);
    if (!alg) throw new Error(`unknown signature type ${bytes[0]}`);
    const raw = bytes.subarray(1);
    const jwk = alg === 'ed25519' ? { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') } : { kty: 'AKP', alg: 'ML-DSA-65', pub: raw.toString('base64url') };
    const verifier = new NoteVerifier(name, alg, raw, createPublicKey({ key: jwk, format: 'jwk' } as Parameters<typeof createPublicKey>[0]));
    if (verifier.id.toString('hex') !== idHex) throw new Error(`verifier key id ${idHex} does not match its key`);
    return verifier;
  }

  toString(): string {
    return `${this.name}+${this.id.toString('hex')}+${Buffer.concat([Buffer.from([SIG_TYPE[this.alg]]), this.raw]).toString('base64')}`;
  }

  verify(text: string, signature: Buffer): boolean {
    try {
      return verify(null, Buffer.from(text, 'utf8'), this.key, signature);
    } catch {
      return false;
    }
  }
}

/**
 * A note signing key held anywhere: its public key and an async sign over the note text
 * (the Signer interface of @ctp/keys has this shape, so a key service can sign checkpoints).
 */
export interface NoteKey {
  readonly publicKey: KeyObject;
  sign(data: Buffer): Promise<Buffer>;
}

export class NoteSigner {
  readonly verifier: NoteVerifier;
  private readonly key: NoteKey;
  constructor(
    readonly name: string,
    key: KeyObject | NoteKey,
  ) {
    this.key = 'sign' in key ? key : { publicKey: createPublicKey(key), sign: async (data) => sign(null, data, key) };
    this.verifier = NoteVerifier.fromPublicKey(name, this.key.publicKey);
  }

  async sign(text: string): Promise<string> {
    const signature = await this.key.sign(Buffer.from(text, 'utf8'));
    return `— ${this.name} ${Buffer.concat([this.verifier.id, signature]).toString('base64')}\n`;
  }
}

/** Signs `text` (which must end in a newline) with every signer: the note text, a blank line, the signature lines. */
export async function signNote(text: string, signers: NoteSigner[]): Promise<string> {
  if (!text.endsWith('\n')) throw new TypeError('note text must end with a newline');
  const lines = await Promise.all(signers.map((s) => s.sign(text)));
  return `${text}\n${lines.join('')}`;
}

export interface OpenedNote {
  text: string;
  /** Names of the known verifiers whose signatures verified. */
  verifiedBy: string[];
}

/**
 * Splits a signed note and checks its signatures against known verifiers. Every
 * signature line from a known key must verify (a bad one is an error, not
 * ignored); unknown keys are skipped. Throws unless every `required` name verified.
 */
export function openNote(note: string, verifiers: NoteVerifier[], required: string[] = verifiers.map((v) => v.name)): OpenedNote {
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw new Error('malformed note: no blank line before the signatures');
  const text = note.slice(0, split + 1);
  const verifiedBy: string[] = [];
  for (const line of note.slice(split + 2, -1).split('\n')) {
    const match = /^— (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!match) throw new Error(`malformed signature line: ${line.slice(0, 80)}`);
    const blob = Buffer.from(match[2]!, 'base64');
    const verifier = verifiers.find((v) => v.name === match[1] && v.id.equals(blob.subarray(0, 4)));
    if (!verifier) continue;
    if (!verifier.verify(text, blob.subarray(4))) throw new Error(`signature by ${verifier.name} (${verifier.alg}) does not verify`);
    verifiedBy.push(verifier.name);
  }
  for (const name of required) if (!verifiedBy.includes(name)) throw new Error(`note is not signed by ${name}`);
  return { text, verifiedBy };
}
