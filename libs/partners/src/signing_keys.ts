import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { z } from 'zod';

const b64u = z.string().regex(/^[A-Za-z0-9_-]+$/);

/**
 * A partner's public request-signing key as the partners file registers it (beside its API key hashes):
 * a JWK whose `alg` is required and must fit its key type, so the key pins the algorithm a processor's
 * guard verifies its signatures with. ES256 and Ed25519 sign; ML-DSA-65 (`kty: AKP`) adds the hybrid signature.
 */
export const publicSigningJwkSchema = z.discriminatedUnion('kty', [
  z.strictObject({ kty: z.literal('EC'), crv: z.literal('P-256'), alg: z.literal('ES256'), x: b64u.length(43), y: b64u.length(43), kid: z.string().optional(), use: z.literal('sig').optional() }),
  z.strictObject({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), alg: z.enum(['Ed25519', 'EdDSA']), x: b64u.length(43), kid: z.string().optional(), use: z.literal('sig').optional() }),
  z.strictObject({ kty: z.literal('AKP'), alg: z.literal('ML-DSA-65'), pub: b64u.length(2603), kid: z.string().optional(), use: z.literal('sig').optional() }),
]);
export type PublicSigningJwk = z.infer<typeof publicSigningJwkSchema>;

/** One registered key: `kid` is the RFC 9421 `keyid` its signatures name (unique across partners). */
export const signingKeyEntrySchema = z.strictObject({
  kid: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'letters, digits and . _ : -'),
  jwk: publicSigningJwkSchema,
});
export type SigningKeyEntry = z.infer<typeof signingKeyEntrySchema>;

export const SIGNING_KEY_ALGS = ['ES256', 'Ed25519', 'ML-DSA-65'] as const;
export type SigningKeyAlg = (typeof SIGNING_KEY_ALGS)[number];

/**
 * A new request-signing key pair for a partner: the private key as PKCS#8 PEM (the partner keeps it) and
 * the partners-file entry (`signing_keys`) with its public JWK. The kid defaults to `<partner>-<alg>-<8 hex>`.
 */
export function generateSigningKey(partnerId: string, alg: SigningKeyAlg, kid?: string): { privateKeyPem: string; entry: SigningKeyEntry } {
  const pair = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : alg === 'Ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ml-dsa-65');
  const jwk = { ...(pair.publicKey.export({ format: 'jwk' }) as object), alg };
  const entry = signingKeyEntrySchema.parse({ kid: kid ?? `${partnerId}-${alg.toLowerCase()}-${randomBytes(4).toString('hex')}`, jwk });
  return { privateKeyPem: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), entry };
}
