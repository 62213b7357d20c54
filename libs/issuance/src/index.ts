export { IssuanceService } from './issuance_service';
export { startIssuance } from './service';
