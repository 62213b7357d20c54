import { createHash } from 'node:crypto';
import { parseDictionary, serializeDictionary } from 'structured-headers';

/** The RFC 9530 algorithms the guard computes and accepts (the registry's "active" ones). */
export const DIGEST_ALGORITHMS = { 'sha-256': 'sha256', 'sha-512': 'sha512' } as const;
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

/** RFC 9530 `Content-Digest` value for `body`: a structured dictionary of byte sequences, e.g. `sha-256=:...:`. */
export function contentDigest(body: Uint8Array, algorithms: readonly DigestAlgorithm[] = ['sha-256', 'sha-512']): string {
  const dict = new Map(algorithms.map((alg) => [alg, [createHash(DIGEST_ALGORITHMS[alg]).update(body).digest(), new Map()] as [Buffer, Map<string, never>]]));
  return serializeDictionary(dict);
}

export type DigestCheck = { ok: true; algorithms: DigestAlgorithm[] } | { ok: false; detail: string };

/**
 * Checks a received `Content-Digest` against the body we hold: every member with an algorithm we know must
 * match (unknown algorithms are ignored, RFC 9530 section 2), and at least one known algorithm must be present.
 */
export function checkContentDigest(header: string | undefined, body: Uint8Array): DigestCheck {
  if (header === undefined || header === '') return { ok: false, detail: 'the request has no Content-Digest header' };
  let dict: ReturnType<typeof parseDictionary>;
  try {
    dict = parseDictionary(header);
  } catch {
    return { ok: false, detail: 'Content-Digest is not a structured dictionary' };
  }
  const checked: DigestAlgorithm[] = [];
  for (const [name, member] of dict) {
    if (!(name in DIGEST_ALGORITHMS)) continue;
    const value = member[0];
    if (!(value instanceof ArrayBuffer)) return { ok: false, detail: `Content-Digest ${name} is not a byte sequence` };
    const expected = createHash(DIGEST_ALGORITHMS[name as DigestAlgorithm]).update(body).digest();
    if (!expected.equals(Buffer.from(value))) return { ok: false, detail: `Content-Digest ${name} does not match the body` };
    checked.push(name as DigestAlgorithm);
  }
  if (checked.length === 0) return { ok: false, detail: 'Content-Digest has neither sha-256 nor sha-512' };
  return { ok: true, algorithms: checked };
}
