export { generateApiKey } from './api_key';
export { loadAuditors, loadPartnerAuth, loadSigningKeys, mayUseProcessor, type Partner, PartnerRegistry } from './registry';
export { AuditorRegistry } from './auditors';
export { generateSigningKey, publicSigningJwkSchema, type PublicSigningJwk, SIGNING_KEY_ALGS, type SigningKeyAlg, type SigningKeyEntry } from './signing_keys';
