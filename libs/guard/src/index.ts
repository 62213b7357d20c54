export type { BreakerSignal, BreakerState, GuardBreaker, PolicyShield, ReceiptInput, ReceiptSink, RouteRef, ShieldDecision } from './contracts';
