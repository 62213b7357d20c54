export * from './issuance_service';
export * from './router';
