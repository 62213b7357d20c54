export { generateApiKey } from './api_key';
export { loadAuditors, loadPartnerAuth, mayUseProcessor, type Partner, PartnerRegistry } from './registry';
export { AuditorRegistry } from './auditors';
