import { join } from 'node:path';
import { cycloneDxValidator } from '@ctp/testing';
import { buildCbom } from './cbom';

const ROOT = join(__dirname, '../../../..');

describe('buildCbom', () => {
  const cbom = buildCbom({
    component: { name: 'demo-processor', version: '0.1.0' },
    algorithms: ['ES256', 'ML-DSA-65', 'SHA-256', 'SHA-512'],
    keys: [
      { kid: 'ctp-2026-12', alg: 'ES256', role: 'consent token signing' },
      { kid: 'partner-a-sig', alg: 'Ed25519', role: 'partner request signing' },
    ],
    policy: { file: 'policy/shield.cedar', sha256: 'a'.repeat(64) },
    commit: '0123456789abcdef0123456789abcdef01234567',
    now: new Date('2026-12-06T00:00:00Z'),
  });

  it('is a CycloneDX 1.6 document that validates against the CycloneDX schema', () => {
    expect(cycloneDxValidator(ROOT)(cbom)).toEqual({ valid: true, errors: [] });
  });

  it('names every algorithm once (keys add theirs), every key with its algorithm, and the policy hash', () => {
    const components = cbom.components as { 'bom-ref': string; cryptoProperties?: { relatedCryptoMaterialProperties?: { algorithmRef: string } } }[];
    expect(components.map((c) => c['bom-ref'])).toEqual([
      'crypto/algorithm/ES256',
      'crypto/algorithm/Ed25519',
      'crypto/algorithm/ML-DSA-65',
      'crypto/algorithm/SHA-256',
      'crypto/algorithm/SHA-512',
      'crypto/key/ctp-2026-12',
      'crypto/key/partner-a-sig',
      'policy',
    ]);
    expect(components[6]!.cryptoProperties!.relatedCryptoMaterialProperties!.algorithmRef).toBe('crypto/algorithm/Ed25519');
    expect(cbom.metadata).toMatchObject({ properties: [{ name: 'ctp:policy:sha256', value: 'a'.repeat(64) }, { name: 'ctp:commit', value: '0123456789abcdef0123456789abcdef01234567' }] });
  });
});
