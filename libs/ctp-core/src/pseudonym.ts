import { createHmac, randomBytes } from 'node:crypto';

/**
 * Pairwise pseudonymous subject: HMAC-SHA256(secret, JSON([partnerId, subjectRef])),
 * base64url. The same person gets unrelated subjects at different partners, and the
 * secret keeps a partner from computing anyone else's. Without a subject reference
 * the subject is a fresh random pseudonym, linkable to nothing.
 */
export function pairwiseSubject(secret: Buffer, partnerId: string, subjectRef?: string): string {
  if (subjectRef === undefined) return randomSubject();
  return createHmac('sha256', secret).update(JSON.stringify([partnerId, subjectRef])).digest('base64url');
}

/**
 * 32 CSPRNG bytes, base64url, drawn 128 subjects at a time (as node's randomUUID draws its
 * UUIDs): one call into the CSPRNG per 128 tokens instead of one per token.
 */
const SUBJECT_BYTES = 32;
const POOL_SUBJECTS = 128;
let pool = Buffer.alloc(0);
let next = POOL_SUBJECTS;

function randomSubject(): string {
  if (next >= POOL_SUBJECTS) {
    pool = randomBytes(SUBJECT_BYTES * POOL_SUBJECTS);
    next = 0;
  }
  const start = SUBJECT_BYTES * next++;
  return pool.toString('base64url', start, start + SUBJECT_BYTES);
}
