import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { failVerification } from './errors';
import type { Hash } from './merkle';

/**
 * Checkpoints in the C2SP tlog-checkpoint format, signed as C2SP signed notes:
 *
 *   <origin>\n<tree size>\n<base64 root hash>\n
 *   \n
 *   — <key name> <base64(4-byte key id || signature)>\n   (one line per signature)
 *
 * Key ids are the first 4 bytes of SHA-256(name || 0x0A || signature type || public key).
 * Ed25519 is signature type 0x01, as the signed-note spec assigns. ML-DSA-65 has no
 * assigned type, so it is 0xff followed by an identifier, as the spec recommends for
 * unassigned types (CTP used 0x06 before, which c2sp.org/tlog-cosignature assigns to
 * ML-DSA-44 cosignatures; vkeys of that form are still read, to check notes signed
 * then). Hybrid notes carry one line per algorithm; verifiers that know only Ed25519
 * ignore the other line, as signed notes require.
 */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Hash;
}

export const SIG_TYPE = { ed25519: Buffer.from([0x01]), mldsa65: Buffer.from('\xffctp/ml-dsa-65\n', 'latin1') } as const;
export type SigAlg = keyof typeof SIG_TYPE;
const LEGACY_MLDSA65_TYPE = Buffer.from([0x06]);
const RAW_KEY_BYTES: Record<SigAlg, number> = { ed25519: 32, mldsa65: 1952 };
/** The signed-note spec asks verifiers to bound the signatures of a note and to accept at least 16. */
const MAX_SIGNATURES = 100;
const KEY_NAME = /^[^\s+]+$/u;

export function formatCheckpoint(c: Checkpoint): string {
  if (!/^[\x21-\x7e]+$/.test(c.origin)) throw new TypeError('checkpoint origin must be printable ASCII without spaces');
  return `${c.origin}\n${c.size}\n${c.root.toString('base64')}\n`;
}

/** The tlog-checkpoint body of a note's text: origin, decimal size, base64 SHA-256 root; extension lines are allowed and ignored. */
export function parseCheckpoint(text: string): Checkpoint {
  const lines = text.split('\n');
  const [origin, size, root] = lines;
  if (lines.length < 4 || !origin || !/^(0|[1-9]\d{0,15})$/.test(size ?? '') || !/^[A-Za-z0-9+/]{43}=$/.test(root ?? '') || lines.slice(3, -1).some((l) => l === '')) {
    failVerification('bad_checkpoint', 'not a tlog checkpoint (origin, decimal size, base64 SHA-256 root)');
  }
  return { origin, size: Number(size), root: Buffer.from(root!, 'base64') };
}

function rawPublicKey(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' }) as { x?: string; pub?: string };
  const raw = jwk.x ?? jwk.pub;
  if (!raw) throw new TypeError('unsupported public key');
  return Buffer.from(raw, 'base64url');
}

function keyId(name: string, type: Buffer, raw: Buffer): Buffer {
  return createHash('sha256').update(name).update(Buffer.from([0x0a])).update(type).update(raw).digest().subarray(0, 4);
}

/** Standard base64 that decodes to exactly what it says: Buffer.from skips characters it does not know. */
function strictBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/** A named public key that can check note signatures. Encoded as `<name>+<hex id>+<base64(type || key)>`. */
export class NoteVerifier {
  readonly id: Buffer;
  private constructor(
    readonly name: string,
    readonly alg: SigAlg,
    private readonly type: Buffer,
    private readonly raw: Buffer,
    private readonly key: KeyObject,
  ) {
    this.id = keyId(name, type, raw);
  }

  static fromPublicKey(name: string, publicKey: KeyObject): NoteVerifier {
    if (publicKey.asymmetricKeyType !== 'ed25519' && publicKey.asymmetricKeyType !== 'ml-dsa-65') throw new TypeError(`unsupported key type ${publicKey.asymmetricKeyType}`);
    const alg: SigAlg = publicKey.asymmetricKeyType === 'ed25519' ? 'ed25519' : 'mldsa65';
    return new NoteVerifier(name, alg, SIG_TYPE[alg], rawPublicKey(publicKey), publicKey);
  }

  /** The verifiers a signing key's notes may carry: its own, and for ML-DSA-65 also the one of CTP's former signature type. */
  static allFor(name: string, publicKey: KeyObject): NoteVerifier[] {
    const current = NoteVerifier.fromPublicKey(name, publicKey);
    return current.alg === 'mldsa65' ? [current, new NoteVerifier(name, 'mldsa65', LEGACY_MLDSA65_TYPE, current.raw, publicKey)] : [current];
  }

  /** Parses a vkey strictly (as Go's note.NewVerifier): any other spelling of a key is refused (bad_key). */
  static parse(vkey: string): NoteVerifier {
    // The key's base64 may itself hold '+': the name and the id are the first two fields.
    const [name = '', idHex = '', ...keyParts] = vkey.split('+');
    const keyB64 = keyParts.join('+');
    const bad = (why: string): never => failVerification('bad_key', `verifier key ${vkey.slice(0, 40)}: ${why}`);
    if (!KEY_NAME.test(name) || !/^[0-9a-f]{8}$/.test(idHex)) bad('not <name>+<8 hex digit id>+<base64 key>');
    const bytes = strictBase64(keyB64) ?? bad('the key is not standard base64');
    const alg = (Object.keys(SIG_TYPE) as SigAlg[]).find((a) => bytes.subarray(0, SIG_TYPE[a].length).equals(SIG_TYPE[a]));
    const legacy = !alg && bytes[0] === LEGACY_MLDSA65_TYPE[0] && bytes.length === 1 + RAW_KEY_BYTES.mldsa65;
    if (!alg && !legacy) bad(`unknown signature type 0x${(bytes[0] ?? 0).toString(16).padStart(2, '0')}`);
    const type = legacy ? LEGACY_MLDSA65_TYPE : SIG_TYPE[alg!];
    const algorithm: SigAlg = legacy ? 'mldsa65' : alg!;
    const raw = bytes.subarray(type.length);
    if (raw.length !== RAW_KEY_BYTES[algorithm]) bad(`an ${algorithm} public key is ${RAW_KEY_BYTES[algorithm]} bytes, not ${raw.length}`);
    const jwk = algorithm === 'ed25519' ? { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') } : { kty: 'AKP', alg: 'ML-DSA-65', pub: raw.toString('base64url') };
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk, format: 'jwk' } as Parameters<typeof createPublicKey>[0]);
    } catch (error) {
      return failVerification('bad_key', `verifier key ${name}: not a valid ${algorithm} public key`, { cause: error });
    }
    const verifier = new NoteVerifier(name, algorithm, type, raw, key);
    if (verifier.id.toString('hex') !== idHex) bad(`key id ${idHex} does not match its key`);
    return verifier;
  }

  toString(): string {
    return `${this.name}+${this.id.toString('hex')}+${Buffer.concat([this.type, this.raw]).toString('base64')}`;
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
  /** Every verifier a note of this key may need (NoteVerifier.allFor); publish all of them. */
  readonly verifiers: NoteVerifier[];
  private readonly key: NoteKey;
  constructor(
    readonly name: string,
    key: KeyObject | NoteKey,
  ) {
    this.key = 'sign' in key ? key : { publicKey: createPublicKey(key), sign: async (data) => sign(null, data, key) };
    this.verifiers = NoteVerifier.allFor(name, this.key.publicKey);
    this.verifier = this.verifiers[0]!;
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
 * Splits a signed note (c2sp.org/signed-note) and checks its signatures against known
 * verifiers. Every signature line from a known key (name and key id) must verify: a
 * bad one is an error, not ignored; lines from unknown keys are skipped. Throws
 * unless every `required` name verified: bad_checkpoint for a malformed note,
 * bad_signature for a signature that does not verify or a required signer missing.
 */
export function openNote(note: string, verifiers: NoteVerifier[], required: string[] = verifiers.map((v) => v.name)): OpenedNote {
  const malformed = (why: string): never => failVerification('bad_checkpoint', `malformed note: ${why}`);
  // eslint-disable-next-line no-control-regex -- the spec forbids exactly these
  if (/[\x00-\x09\x0b-\x1f]/.test(note)) malformed('a control character other than newline');
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) malformed('no blank line before the signatures');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) malformed(`more than ${MAX_SIGNATURES} signatures`);
  const verifiedBy: string[] = [];
  for (const line of lines) {
    const match = /^— (\S+) ([A-Za-z0-9+/=]+)$/u.exec(line);
    const blob = match && strictBase64(match[2]!);
    if (!match || !KEY_NAME.test(match[1]!) || !blob || blob.length < 5) return malformed(`signature line ${line.slice(0, 80)}`);
    const verifier = verifiers.find((v) => v.name === match[1] && v.id.equals(blob.subarray(0, 4)));
    if (!verifier) continue;
    if (!verifier.verify(text, blob.subarray(4))) failVerification('bad_signature', `signature by ${verifier.name} (${verifier.alg}) does not verify`);
    verifiedBy.push(verifier.name);
  }
  for (const name of required) if (!verifiedBy.includes(name)) failVerification('bad_signature', `note is not signed by ${name}`);
  return { text, verifiedBy };
}
