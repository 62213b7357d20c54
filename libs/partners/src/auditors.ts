import { z } from 'zod';
import { decoyHashes, matchesWithEqualWork } from './api_key';

/** An auditor as the partners file lists it: read access to the ledger, nothing else. */
export const auditorSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and "-"'),
  name: z.string().min(1).max(128),
  api_key_hashes: z.array(z.string().regex(/^hmac-sha256\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/, 'made by `ctp partners new-key`')).min(1),
});

export interface Auditor {
  id: string;
  name: string;
}

/**
 * Auditors who may read the ledger (entries, proofs, anchors, compliance packs) outside
 * dev mode. Their keys are made and stored like partner keys (`ctp partners new-key
 * <auditor id>`, salted HMAC-SHA256 hashes) but grant nothing a partner key does, and
 * a partner key grants none of this.
 */
export class AuditorRegistry {
  private readonly byId = new Map<string, { auditor: Auditor; hashes: string[] }>();
  /** As many hashes as the auditor with the most has (at least one), none of them matching (matchesWithEqualWork). */
  private readonly decoys: string[];

  constructor(auditors: z.infer<typeof auditorSchema>[]) {
    for (const a of auditors) {
      if (this.byId.has(a.id)) throw new Error(`auditor id ${a.id} is configured twice`);
      this.byId.set(a.id, { auditor: { id: a.id, name: a.name }, hashes: a.api_key_hashes });
    }
    this.decoys = decoyHashes(Math.max(1, ...auditors.map((a) => a.api_key_hashes.length)));
  }

  get size(): number {
    return this.byId.size;
  }

  authenticate(apiKey: string): Auditor | undefined {
    if (apiKey.length > 200) return undefined;
    const dot = apiKey.lastIndexOf('.');
    const entry = dot > 0 ? this.byId.get(apiKey.slice(0, dot)) : undefined;
    const matched = matchesWithEqualWork(apiKey, entry?.hashes, this.decoys);
    return matched ? entry?.auditor : undefined;
  }
}
