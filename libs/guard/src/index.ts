export type { BreakerSignal, BreakerState, GuardBreaker, PolicyShield, ReceiptInput, ReceiptSink, RouteRef, ShieldDecision } from './contracts';
export { DEFAULT_BREAKER_OPTIONS, HysteresisBreaker, countFlaps } from './breaker';
export type { BreakerOptions, BreakerSnapshot, BreakerTransition } from './breaker';
export { CedarPolicyShield, DEFAULT_POLICY_ID, PolicyError, SHIELD_ACTIONS, loadPolicyFiles, loadPolicySet } from './policy';
export type { CedarShieldOptions, LoadedPolicySet } from './policy';
export { SqliteReceiptStore, toGuardReceipt } from './receipts';
export type { ReceiptAck, SqliteReceiptStoreOptions, StoredReceipt } from './receipts';
export { ReceiptForwarder } from './receipt_forwarder';
export type { ReceiptForwarderOptions, ReceiptTransport } from './receipt_forwarder';
