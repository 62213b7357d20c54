// CycloneDX 1.6 cryptographic bill of materials (CBOM) for the pilot's change control: every algorithm
// the guard and CTP use, every key id in play, and the hash of the policy set that was in force.
import { randomUUID } from 'node:crypto';

/** The algorithms CTP and the guard can use, as CycloneDX describes them. */
const ALGORITHMS = {
  ES256: { name: 'ECDSA P-256 with SHA-256 (ES256)', oid: '1.2.840.10045.4.3.2', primitive: 'signature', curve: 'secp256r1', parameterSetIdentifier: '256', classicalSecurityLevel: 128, nistQuantumSecurityLevel: 0, cryptoFunctions: ['sign', 'verify'] },
  Ed25519: { name: 'Ed25519 (EdDSA)', oid: '1.3.101.112', primitive: 'signature', curve: 'Ed25519', parameterSetIdentifier: '255', classicalSecurityLevel: 128, nistQuantumSecurityLevel: 0, cryptoFunctions: ['sign', 'verify'] },
  'ML-DSA-65': { name: 'ML-DSA-65 (FIPS 204)', oid: '2.16.840.1.101.3.4.3.18', primitive: 'signature', parameterSetIdentifier: '65', classicalSecurityLevel: 192, nistQuantumSecurityLevel: 3, cryptoFunctions: ['sign', 'verify'] },
  'SHA-256': { name: 'SHA-256', oid: '2.16.840.1.101.3.4.2.1', primitive: 'hash', parameterSetIdentifier: '256', classicalSecurityLevel: 128, nistQuantumSecurityLevel: 2, cryptoFunctions: ['digest'] },
  'SHA-512': { name: 'SHA-512', oid: '2.16.840.1.101.3.4.2.3', primitive: 'hash', parameterSetIdentifier: '512', classicalSecurityLevel: 256, nistQuantumSecurityLevel: 5, cryptoFunctions: ['digest'] },
  'HMAC-SHA256': { name: 'HMAC-SHA256', oid: '1.2.840.113549.2.9', primitive: 'mac', parameterSetIdentifier: '256', classicalSecurityLevel: 256, nistQuantumSecurityLevel: 2, cryptoFunctions: ['tag', 'verify'] },
} as const;

export type CbomAlgorithm = keyof typeof ALGORITHMS;

export interface CbomKey {
  kid: string;
  alg: CbomAlgorithm;
  /** What the key does, e.g. 'consent token signing' or 'partner request signing'. */
  role: string;
  state?: 'active' | 'deactivated';
}

export interface CbomInput {
  component: { name: string; version: string };
  algorithms: readonly CbomAlgorithm[];
  keys: readonly CbomKey[];
  policy: { file: string; sha256: string };
  /** The repository commit the pilot ran from, when known (change control logs it). */
  commit?: string;
  now?: Date;
}

const algRef = (alg: CbomAlgorithm) => `crypto/algorithm/${alg}`;

export function buildCbom(input: CbomInput): Record<string, unknown> {
  const used = [...new Set([...input.algorithms, ...input.keys.map((k) => k.alg)])].sort();
  const properties = [{ name: 'ctp:policy:sha256', value: input.policy.sha256 }];
  if (input.commit) properties.push({ name: 'ctp:commit', value: input.commit });
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: (input.now ?? new Date()).toISOString(),
      component: { type: 'application', 'bom-ref': 'subject', name: input.component.name, version: input.component.version },
      properties,
    },
    components: [
      ...used.map((alg) => {
        const { name, oid, ...algorithmProperties } = ALGORITHMS[alg];
        return {
          type: 'cryptographic-asset',
          'bom-ref': algRef(alg),
          name,
          cryptoProperties: {
            assetType: 'algorithm',
            oid,
            algorithmProperties: { ...algorithmProperties, cryptoFunctions: [...algorithmProperties.cryptoFunctions], executionEnvironment: 'software-plain-ram', certificationLevel: ['none'] },
          },
        };
      }),
      ...input.keys.map((key) => ({
        type: 'cryptographic-asset',
        'bom-ref': `crypto/key/${key.kid}`,
        name: key.kid,
        description: key.role,
        cryptoProperties: {
          assetType: 'related-crypto-material',
          relatedCryptoMaterialProperties: { type: 'public-key', id: key.kid, state: key.state ?? 'active', algorithmRef: algRef(key.alg), format: 'JWK' },
        },
      })),
      {
        type: 'file',
        'bom-ref': 'policy',
        name: input.policy.file,
        hashes: [{ alg: 'SHA-256', content: input.policy.sha256 }],
      },
    ],
    dependencies: [{ ref: 'subject', dependsOn: [...used.map(algRef), ...input.keys.map((k) => `crypto/key/${k.kid}`), 'policy'] }],
  };
}
