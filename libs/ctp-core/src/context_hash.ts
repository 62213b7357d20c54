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
