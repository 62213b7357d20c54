import { serializeDictionary, serializeItem, type InnerList } from 'structured-headers';
import { CHANNEL_BINDING_FIELD, PQ_SIGNATURE_LABEL, REQUIRED_COMPONENTS, SIGNATURE_LABEL } from './request_signature';

export interface ChallengeShape {
  nonce: string;
  /** Ask for the channel binding field too (the guard terminates TLS 1.3). */
  channelBinding: boolean;
  /** Ask for the second, ML-DSA-65 signature as well. */
  hybrid: boolean;
}

/** `WWW-Authenticate` of a 401 from the guard: the scheme `Signature` with this challenge's nonce. */
export function wwwAuthenticate(nonce: string): string {
  return `Signature realm="ctp-guard", nonce=${serializeItem(nonce)}`;
}

/**
 * RFC 9421 section 5.1 `Accept-Signature`: the components to cover and the parameters to send
 * (created, expires, keyid, and this nonce), per label the guard expects.
 */
export function acceptSignature(shape: ChallengeShape): string {
  const components = [...REQUIRED_COMPONENTS, ...(shape.channelBinding ? [CHANNEL_BINDING_FIELD] : [])];
  const member = (): InnerList => [
    components.map((c) => [c, new Map()]),
    new Map<string, string | boolean>([
      ['created', true],
      ['expires', true],
      ['keyid', true],
      ['nonce', shape.nonce],
    ]),
  ];
  const dict = new Map<string, InnerList>([[SIGNATURE_LABEL, member()]]);
  if (shape.hybrid) dict.set(PQ_SIGNATURE_LABEL, member());
  return serializeDictionary(dict);
}
