import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NoteSigner, type NoteVerifier } from '@ctp/ledger-core';

function loadOrCreate(path: string, type: 'ed25519' | 'ml-dsa-65') {
  try {
    return createPrivateKey(readFileSync(path));
  } catch {
    const { privateKey } = generateKeyPairSync(type as 'ed25519');
    writeFileSync(`${path}.tmp`, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
    return privateKey;
  }
}

/**
 * Checkpoint signers from a key directory (created 0700, keys 0600 on first run):
 * Ed25519 always; ML-DSA-65 too when `hybrid`, named `<origin>/mldsa65`.
 */
export function loadCheckpointSigners(dir: string, origin: string, hybrid: boolean): NoteSigner[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const signers = [new NoteSigner(origin, loadOrCreate(join(dir, 'checkpoint-ed25519.pem'), 'ed25519'))];
  if (hybrid) signers.push(new NoteSigner(`${origin}/mldsa65`, loadOrCreate(join(dir, 'checkpoint-mldsa65.pem'), 'ml-dsa-65')));
  return signers;
}

/**
 * The verifier keys of the checkpoint signers in a key directory, without creating
 * any (for tools such as `ctp ledger retention` that check checkpoints, not sign them),
 * in every form their notes may carry (NoteVerifier.allFor).
 */
export function loadCheckpointVerifiers(dir: string, origin: string, hybrid: boolean): NoteVerifier[] {
  const read = (file: string) => {
    try {
      return createPrivateKey(readFileSync(join(dir, file)));
    } catch (error) {
      throw new Error(`no checkpoint key ${join(dir, file)}: ${(error as Error).message}`, { cause: error });
    }
  };
  const verifiers = new NoteSigner(origin, read('checkpoint-ed25519.pem')).verifiers;
  if (hybrid) verifiers.push(...new NoteSigner(`${origin}/mldsa65`, read('checkpoint-mldsa65.pem')).verifiers);
  return verifiers;
}
