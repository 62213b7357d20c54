export * from './issuance_service';
export * from './router';
export * from './key_admin';
export * from './idempotency';
export * from './funnel_router';
