export { IssuanceService } from './issuance_service';
export { issuerRouter } from './router';
export { keyAdministration } from './key_admin';
export { idempotencyStore } from './idempotency';
export { funnelRouter } from './funnel_router';
