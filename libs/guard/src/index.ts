export type { BreakerSignal, BreakerState, GuardBreaker, PolicyShield, ReceiptInput, ReceiptSink, RouteRef, ShieldDecision } from './contracts';
export { guard, RECEIPT_ID_HEADER, type GuardContext, type GuardedRequest, type GuardOptions } from './guard';
export { REQUIRE_NOTHING_SHIELD } from './defaults';
export { KeyRing, jwkThumbprint, SIGNATURE_ALGS, type RegisteredKey, type SignatureAlg } from './keys';
export { MemoryNonceStore, newNonce, RedisNonceStore, type NonceStore } from './nonce_store';
export { contentDigest, checkContentDigest } from './content_digest';
export { CHANNEL_BINDING_FIELD, CONSENT_TOKEN_FIELD, PQ_SIGNATURE_LABEL, SIGNATURE_LABEL } from './request_signature';
export { tlsExporter, TLS_EXPORTER_LABEL } from './channel_binding';
