import { httpbis, type Request as SignedMessage, type VerifyingKey } from 'http-message-signatures';
import { isInnerList, parseDictionary, serializeDictionary, type Dictionary, type InnerList } from 'structured-headers';
import { HTTPSIG_ALG, verifyWith, type KeyRing, type RegisteredKey } from './keys';

/** The label of the classical signature, and of the second (ML-DSA-65) one of a hybrid request. */
export const SIGNATURE_LABEL = 'ctp';
export const PQ_SIGNATURE_LABEL = 'ctp-pq';
/** The consent token header (the SDK's CONSENT_TOKEN_HEADER, lowercased as HTTP field names are compared). */
export const CONSENT_TOKEN_FIELD = 'ctp-consent-token';
/** RFC 9266 `tls-exporter` value of the connection the request came over, as a structured byte sequence. */
export const CHANNEL_BINDING_FIELD = 'ctp-channel-binding';
/** What every guarded request's signature covers (plus the channel binding field over TLS). */
export const REQUIRED_COMPONENTS = ['@method', '@target-uri', 'content-digest', CONSENT_TOKEN_FIELD] as const;
export const REQUIRED_PARAMS = ['created', 'expires', 'nonce', 'keyid'] as const;
/** Signature-Input and Signature together stay under this (an ML-DSA-65 signature is 3,309 bytes). */
export const MAX_SIGNATURE_HEADER_BYTES = 16 * 1024;

export interface SignaturePolicy {
  /** Oldest `created` accepted, and the longest `expires - created` (seconds). */
  maxAgeSeconds: number;
  /** Clock tolerance on created and expires (seconds). */
  toleranceSeconds: number;
}

/** One signature as the request declares it, before its cryptography is checked. */
export interface DeclaredSignature {
  label: string;
  components: string[];
  created: number;
  expires: number;
  nonce: string;
  keyid: string;
  key: RegisteredKey;
  input: InnerList;
  value: ArrayBuffer;
}

export type SignatureFailure = { ok: false; code: 'signature_required' | 'signature_invalid'; detail: string };
export type Declared = { ok: true; classical: DeclaredSignature; pq: DeclaredSignature | undefined } | SignatureFailure;

const header = (headers: SignedMessage['headers'], name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
};
const invalid = (detail: string): SignatureFailure => ({ ok: false, code: 'signature_invalid', detail });

/**
 * Reads Signature-Input and Signature strictly: only the labels `ctp` and `ctp-pq`, components as plain
 * strings, every required parameter present with the right type, `keyid` a registered key. A classical
 * signature must use a classical key and the `ctp-pq` signature an ML-DSA-65 key of the same partner,
 * with the same components and nonce.
 */
export function declaredSignatures(headers: SignedMessage['headers'], keys: KeyRing): Declared {
  const inputs = header(headers, 'signature-input');
  const values = header(headers, 'signature');
  if (inputs === undefined && values === undefined) return { ok: false, code: 'signature_required', detail: 'the request is not signed' };
  if (inputs === undefined || values === undefined) return invalid('Signature-Input and Signature must both be present');
  if (inputs.length + values.length > MAX_SIGNATURE_HEADER_BYTES) return invalid('the signature headers are too large');
  let inputDict: Dictionary;
  let valueDict: Dictionary;
  try {
    inputDict = parseDictionary(inputs);
    valueDict = parseDictionary(values);
  } catch {
    return invalid('Signature-Input or Signature is not a structured dictionary');
  }
  const declared = new Map<string, DeclaredSignature>();
  for (const [label, input] of inputDict) {
    if (label !== SIGNATURE_LABEL && label !== PQ_SIGNATURE_LABEL) return invalid(`unexpected signature label ${label}`);
    const value = valueDict.get(label);
    if (!isInnerList(input)) return invalid(`signature ${label}: the input is not an inner list`);
    if (!value || isInnerList(value) || !(value[0] instanceof ArrayBuffer)) return invalid(`signature ${label}: no byte-sequence signature value`);
    const components: string[] = [];
    for (const [item, params] of input[0]) {
      if (typeof item !== 'string' || params.size > 0) return invalid(`signature ${label}: components must be plain field names`);
      components.push(item);
    }
    const p = input[1];
    const created = p.get('created');
    const expires = p.get('expires');
    const nonce = p.get('nonce');
    const keyid = p.get('keyid');
    if (typeof created !== 'number' || typeof expires !== 'number' || typeof nonce !== 'string' || typeof keyid !== 'string') {
      return invalid(`signature ${label}: created, expires (integers), nonce and keyid (strings) are required`);
    }
    const key = keys.get(keyid);
    if (!key) return invalid(`signature ${label}: keyid is not a registered key`);
    declared.set(label, { label, components, created, expires, nonce, keyid, key, input, value: value[0] });
  }
  for (const label of valueDict.keys()) if (!inputDict.has(label)) return invalid(`signature ${label} has no Signature-Input`);
  const classical = declared.get(SIGNATURE_LABEL);
  const pq = declared.get(PQ_SIGNATURE_LABEL);
  if (!classical) return invalid(`the ${SIGNATURE_LABEL} signature is missing`);
  if (classical.key.alg === 'ML-DSA-65') return invalid(`the ${SIGNATURE_LABEL} signature must use an ES256 or Ed25519 key`);
  if (pq) {
    if (pq.key.alg !== 'ML-DSA-65') return invalid(`the ${PQ_SIGNATURE_LABEL} signature must use an ML-DSA-65 key`);
    if (pq.key.partnerId !== classical.key.partnerId) return invalid('both signatures must use keys of the same partner');
    if (pq.nonce !== classical.nonce || pq.components.join(' ') !== classical.components.join(' ')) {
      return invalid('both signatures must cover the same components and nonce');
    }
  }
  return { ok: true, classical, pq };
}

/**
 * Verifies one declared signature with http-message-signatures under a strict policy: required components
 * and parameters, maximum age and tolerance, and the algorithm pinned by the registered key (the `alg`
 * parameter, if sent, must name it). Only this label's members are handed to the library, so one bad
 * signature can never be masked by another good one.
 */
export async function verifyDeclared(
  message: SignedMessage,
  sig: DeclaredSignature,
  requiredComponents: readonly string[],
  policy: SignaturePolicy,
  sole: boolean,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<SignatureFailure | { ok: true }> {
  const missing = requiredComponents.filter((c) => !sig.components.includes(c));
  if (missing.length > 0) return invalid(`signature ${sig.label} does not cover ${missing.join(', ')}`);
  if (sig.expires - sig.created > policy.maxAgeSeconds) return invalid(`signature ${sig.label}: expires - created exceeds ${policy.maxAgeSeconds} s`);
  if (sig.created > nowSeconds + policy.toleranceSeconds) return invalid(`signature ${sig.label} was created in the future`);
  const key = sig.key;
  const verifying: VerifyingKey = { id: key.keyid, algs: [HTTPSIG_ALG[key.alg]], verify: async (data, signature) => verifyWith(key, data, signature) };
  // With two signatures, the library sees this label's members only; a sole signature is passed as received.
  const headers = sole
    ? message.headers
    : { ...message.headers, 'signature-input': serializeDictionary(new Map([[sig.label, sig.input]])), signature: serializeDictionary(new Map([[sig.label, [sig.value, new Map()]]])) };
  try {
    const verified = await httpbis.verifyMessage(
      {
        keyLookup: async (params) => (params.keyid === key.keyid ? verifying : null),
        requiredParams: [...REQUIRED_PARAMS],
        requiredFields: [...requiredComponents],
        maxAge: policy.maxAgeSeconds,
        tolerance: policy.toleranceSeconds,
      },
      { method: message.method, url: message.url, headers },
    );
    return verified === true ? { ok: true } : invalid(`signature ${sig.label} does not verify`);
  } catch (error) {
    return invalid(`signature ${sig.label}: ${(error as Error).message}`);
  }
}
