export * from './issuance_service';
export * from './router';
export * from './key_admin';
export * from './idempotency';
export * from './consent_funnel';
export * from './funnel_router';
