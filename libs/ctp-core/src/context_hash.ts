import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { ContextEnvelope } from './envelope';

/** The envelope fields a token is bound to. `ts` is the client's consent time: ledgered, not hashed. */
export const BINDING_FIELDS = ['channel', 'features', 'processor', 'purpose', 'retention', 'jurisdiction', 'ui_copy_id'] as const;

export type ContextBinding = Pick<ContextEnvelope, (typeof BINDING_FIELDS)[number]>;

/** The binding fields, with features as a sorted, de-duplicated set. */
export function contextBinding(envelope: ContextBinding): ContextBinding {
  return {
    channel: envelope.channel,
    features: [...new Set(envelope.features)].sort(),
    processor: envelope.processor,
    purpose: envelope.purpose,
    retention: envelope.retention,
    jurisdiction: envelope.jurisdiction,
    ui_copy_id: envelope.ui_copy_id,
  };
}

/** context_hash = lowercase hex SHA-256 of the RFC 8785 (JCS) canonical JSON of the binding. */
export function contextHash(envelope: ContextBinding): string {
  const canonical = canonicalize(contextBinding(envelope));
  if (canonical === undefined) throw new TypeError('context binding is not serialisable');
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/**
 * contextHash memoised per distinct binding: a server sees the same few envelopes again and
 * again, so the canonical JSON and SHA-256 are computed once per envelope, keyed by the
 * binding fields in a fixed order (JSON.stringify of an array: injective, and native). At
 * most `maxEntries` keys of at most MEMO_KEY_CHARS are kept (a longer binding is hashed
 * without memo); when full, the memo starts over (no per-call bookkeeping).
 */
const MEMO_KEY_CHARS = 2048;

export class ContextHashMemo {
  private readonly hashes = new Map<string, string>();

  constructor(private readonly maxEntries = 1024) {}

  hash(envelope: ContextBinding): string {
    const key = JSON.stringify([envelope.channel, envelope.features, envelope.processor, envelope.purpose, envelope.retention, envelope.jurisdiction, envelope.ui_copy_id]);
    if (key.length > MEMO_KEY_CHARS) return contextHash(envelope);
    let hash = this.hashes.get(key);
    if (hash === undefined) {
      hash = contextHash(envelope);
      if (this.hashes.size >= this.maxEntries) this.hashes.clear();
      this.hashes.set(key, hash);
    }
    return hash;
  }
}
