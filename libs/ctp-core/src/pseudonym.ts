import { createHmac, randomBytes } from 'node:crypto';

/**
 * Pairwise pseudonymous subject: HMAC-SHA256(secret, JSON([partnerId, subjectRef])),
 * base64url. The same person gets unrelated subjects at different partners, and the
 * secret keeps a partner from computing anyone else's. Without a subject reference
 * the subject is a fresh random pseudonym, linkable to nothing.
 */
export function pairwiseSubject(secret: Buffer, partnerId: string, subjectRef?: string): string {
  if (subjectRef === undefined) return randomBytes(32).toString('base64url');
  return createHmac('sha256', secret).update(JSON.stringify([partnerId, subjectRef])).digest('base64url');
}
