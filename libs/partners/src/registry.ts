import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { rateLimitSpec, type RateLimit, type RateLimitedEndpoint } from '@ctp/config';
import { apiKeyDigest, decoyHashes, matchesWithEqualWork } from './api_key';
import { AuditorRegistry, auditorSchema } from './auditors';
import { signingKeyEntrySchema, type SigningKeyEntry } from './signing_keys';

export interface Partner {
  id: string;
  name: string;
  /** Processors (token audiences) this partner may request consent for; `*` allows any. */
  processors: string[];
  policyUri: string;
  /** Per-endpoint limits that replace the deployment defaults for this partner. */
  rateLimits?: Partial<Record<RateLimitedEndpoint, RateLimit>>;
}

const partnerSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and "-"'),
  name: z.string().min(1).max(128),
  api_key_hashes: z.array(z.string().regex(/^hmac-sha256\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/, 'made by `ctp partners new-key`')).min(1),
  processors: z.array(z.string().min(1)).min(1),
  policy_uri: z.url(),
  rate_limits: z.strictObject({ issue: rateLimitSpec().optional(), introspect: rateLimitSpec().optional(), revoke: rateLimitSpec().optional() }).optional(),
  /** Public keys the partner signs guarded requests with (`ctp partners new-signing-key`). */
  signing_keys: z.array(signingKeyEntrySchema).max(16).optional(),
});

export const partnersFileSchema = z.strictObject({ partners: z.array(partnerSchema).min(1), auditors: z.array(auditorSchema).optional() });
export type PartnersFile = z.infer<typeof partnersFileSchema>;

/** The partner `ctp up` acts as in dev mode, when calls carry no credential. */
export const DEMO_PARTNER: Partner = {
  id: 'demo',
  name: 'Built-in demo partner (dev mode only)',
  processors: ['*'],
  policyUri: 'https://partner.example/policy/2025-11-01',
};

const AUTH_CACHE_LIMIT = 10_000;

export class PartnerRegistry {
  private readonly byId = new Map<string, { partner: Partner; hashes: string[] }>();
  /** sha256(api key) -> partner, for keys already verified against their salted hash. */
  private readonly verified = new Map<string, Partner>();
  /** As many hashes as the partner with the most has, none of them matching (matchesWithEqualWork). */
  private readonly decoys: string[];

  constructor(file: PartnersFile) {
    for (const p of file.partners) {
      if (this.byId.has(p.id)) throw new Error(`partner id ${p.id} is configured twice`);
      this.byId.set(p.id, {
        partner: { id: p.id, name: p.name, processors: p.processors, policyUri: p.policy_uri, ...(p.rate_limits ? { rateLimits: p.rate_limits } : {}) },
        hashes: p.api_key_hashes,
      });
    }
    this.decoys = decoyHashes(Math.max(...file.partners.map((p) => p.api_key_hashes.length)));
  }

  static parse(json: unknown): PartnerRegistry {
    const result = partnersFileSchema.safeParse(json);
    if (!result.success) {
      throw new Error(`invalid partners file: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    return new PartnerRegistry(result.data);
  }

  get(id: string): Partner | undefined {
    return this.byId.get(id)?.partner;
  }

  authenticate(apiKey: string): Partner | undefined {
    if (apiKey.length > 200) return undefined;
    const digest = apiKeyDigest(apiKey);
    const cached = this.verified.get(digest);
    if (cached) return cached;
    const dot = apiKey.lastIndexOf('.');
    const entry = dot > 0 ? this.byId.get(apiKey.slice(0, dot)) : undefined;
    const matched = matchesWithEqualWork(apiKey, entry?.hashes, this.decoys);
    if (!entry || !matched) return undefined;
    if (this.verified.size >= AUTH_CACHE_LIMIT) this.verified.clear();
    this.verified.set(digest, entry.partner);
    return entry.partner;
  }
}

export function mayUseProcessor(partner: Partner, processor: string): boolean {
  return partner.processors.includes('*') || partner.processors.includes(processor);
}

export interface PartnerAuthConfig {
  registry: PartnerRegistry | undefined;
  devPartner: Partner | undefined;
}

/** Partners from a JSON file; in dev mode calls without a credential act as DEMO_PARTNER. */
export function loadPartnerAuth(partnersFile: string | undefined, devMode: boolean): PartnerAuthConfig {
  if (!partnersFile && !devMode) throw new Error('CTP_PARTNERS_FILE is required unless CTP_DEV_MODE=true');
  const registry = partnersFile ? PartnerRegistry.parse(JSON.parse(readFileSync(partnersFile, 'utf8'))) : undefined;
  return { registry, devPartner: devMode ? DEMO_PARTNER : undefined };
}

/** Every partner's registered request-signing keys (for a processor's guard: `new KeyRing(...)`). */
export function loadSigningKeys(partnersFile: string): ({ partnerId: string } & SigningKeyEntry)[] {
  const parsed = partnersFileSchema.safeParse(JSON.parse(readFileSync(partnersFile, 'utf8')));
  if (!parsed.success) throw new Error(`invalid partners file: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data.partners.flatMap((p) => (p.signing_keys ?? []).map((k) => ({ partnerId: p.id, ...k })));
}

/** The auditors of a partners file (none without a file, or without `auditors`): who may read the ledger outside dev mode. */
export function loadAuditors(partnersFile: string | undefined): AuditorRegistry {
  if (!partnersFile) return new AuditorRegistry([]);
  const parsed = partnersFileSchema.safeParse(JSON.parse(readFileSync(partnersFile, 'utf8')));
  if (!parsed.success) throw new Error(`invalid partners file: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return new AuditorRegistry(parsed.data.auditors ?? []);
}
