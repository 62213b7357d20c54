import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const HASH_SCHEME = 'hmac-sha256';

/**
 * API keys are `<partnerId>.<43 base64url chars of randomness>` (256 bits). With that
 * much entropy a salted HMAC-SHA256 resists offline guessing as well as a slow KDF
 * would, and keeps authentication cheap enough for the introspect hot path.
 */
export function generateApiKey(partnerId: string): { apiKey: string; hash: string } {
  const apiKey = `${partnerId}.${randomBytes(32).toString('base64url')}`;
  return { apiKey, hash: hashApiKey(apiKey) };
}

export function hashApiKey(apiKey: string, salt: Buffer = randomBytes(16)): string {
  const digest = createHmac('sha256', salt).update(apiKey).digest('base64url');
  return `${HASH_SCHEME}$${salt.toString('base64url')}$${digest}`;
}

/** Constant-time check of `apiKey` against one stored hash. */
export function apiKeyMatches(apiKey: string, stored: string): boolean {
  const [scheme, saltB64, digestB64] = stored.split('$');
  if (scheme !== HASH_SCHEME || !saltB64 || !digestB64) return false;
  const expected = Buffer.from(digestB64, 'base64url');
  const actual = createHmac('sha256', Buffer.from(saltB64, 'base64url')).update(apiKey).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Digest under which a verified key is cached; the key itself is never kept. */
export function apiKeyDigest(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('base64url');
}

/** `slots` hashes that no key matches (of random keys, never kept): padding for matchesWithEqualWork. */
export function decoyHashes(slots: number): string[] {
  return Array.from({ length: slots }, () => hashApiKey(randomBytes(32).toString('base64url')));
}

/**
 * Whether `apiKey` matches one of `hashes` (undefined: the key names nobody). Exactly
 * `decoys.length` hashes are checked whoever the key names: the holder's own padded with decoys,
 * or only decoys, and every one even after a match. So the answer takes as long for an unknown id,
 * or for a key matching its holder's first hash, as for any other: timing reveals no ids.
 */
export function matchesWithEqualWork(apiKey: string, hashes: readonly string[] | undefined, decoys: readonly string[]): boolean {
  const checked = hashes ? [...hashes, ...decoys.slice(hashes.length)] : decoys;
  let matched = false;
  for (const hash of checked) matched = apiKeyMatches(apiKey, hash) || matched;
  return matched;
}
