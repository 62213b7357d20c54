import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** Operator ids, change ids and kids: one token each, so the signed statement is unambiguous. */
export const OPERATOR_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const CHANGE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{7,63}$/;
export const KID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const KEY_CHANGE_ACTIONS = ['rotate', 'revoke'] as const;
export type KeyChangeAction = (typeof KEY_CHANGE_ACTIONS)[number];

const operatorsFileSchema = z
  .object({
    operators: z
      .array(
        z.object({
          id: z.string().regex(OPERATOR_ID),
          /** Raw 32-byte Ed25519 public key, base64url (as in an OKP JWK `x`). */
          public_key: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
        }).strict(),
      )
      .min(2, 'dual control needs at least two operators'),
  })
  .strict();

function ed25519PublicKey(x: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
}

/** The operators allowed to approve key changes, each with their own Ed25519 public key. */
export class OperatorRegistry {
  private constructor(private readonly keys: ReadonlyMap<string, KeyObject>) {}

  static parse(json: unknown): OperatorRegistry {
    const parsed = operatorsFileSchema.safeParse(json);
    if (!parsed.success) {
      throw new Error(`operators file: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    }
    const keys = new Map<string, KeyObject>();
    for (const op of parsed.data.operators) {
      if (keys.has(op.id)) throw new Error(`operators file: operator ${op.id} is listed twice`);
      keys.set(op.id, ed25519PublicKey(op.public_key));
    }
    if (new Set(parsed.data.operators.map((o) => o.public_key)).size !== parsed.data.operators.length) {
      throw new Error('operators file: two operators share a public key, which defeats dual control');
    }
    return new OperatorRegistry(keys);
  }

  static load(path: string): OperatorRegistry {
    return OperatorRegistry.parse(JSON.parse(readFileSync(path, 'utf8')) as unknown);
  }

  publicKey(id: string): KeyObject | undefined {
    return this.keys.get(id);
  }

  get size(): number {
    return this.keys.size;
  }
}

/** What an operator signs to propose or approve a key change. */
export interface ApprovalStatement {
  change_id: string;
  action: KeyChangeAction;
  /** The key the change is about: the active key for a rotation, the compromised key for a revocation. */
  kid: string;
  operator: string;
  /** Seconds since the epoch; the approval is refused after this. */
  expires_at: number;
}

/** The exact bytes an operator signs: one field per line, fixed order. */
export function canonicalStatement(s: ApprovalStatement): Buffer {
  if (!CHANGE_ID.test(s.change_id) || !KID.test(s.kid) || !OPERATOR_ID.test(s.operator) || !KEY_CHANGE_ACTIONS.includes(s.action) || !Number.isSafeInteger(s.expires_at)) {
    throw new Error('approval statement field out of range');
  }
  return Buffer.from(
    ['ctp-key-change-approval/v1', `change_id=${s.change_id}`, `action=${s.action}`, `kid=${s.kid}`, `operator=${s.operator}`, `expires_at=${s.expires_at}`, ''].join('\n'),
  );
}

/** Ed25519 signature over the canonical statement, base64url. */
export function signStatement(s: ApprovalStatement, privateKey: KeyObject): string {
  return sign(null, canonicalStatement(s), privateKey).toString('base64url');
}

export function verifyStatement(s: ApprovalStatement, signature: string, publicKey: KeyObject): boolean {
  if (!/^[A-Za-z0-9_-]{86}$/.test(signature)) return false;
  return verify(null, canonicalStatement(s), publicKey, Buffer.from(signature, 'base64url'));
}

/** A new operator key: the private PEM for the operator alone, and the entry for the operators file. */
export function generateOperatorKey(id: string): { privateKeyPem: string; entry: { id: string; public_key: string } } {
  if (!OPERATOR_ID.test(id)) throw new Error(`operator id must match ${OPERATOR_ID.source}`);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x ?? '';
  return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, entry: { id, public_key: x } };
}

export function loadOperatorKey(path: string): KeyObject {
  const key = createPrivateKey(readFileSync(path));
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${path} is not an Ed25519 private key`);
  return key;
}
