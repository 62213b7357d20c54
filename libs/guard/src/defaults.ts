import type { PolicyShield, ShieldDecision } from './contracts';

/**
 * The shield used when none is given: it requires no binding and no hybrid signature and fails closed
 * while a breaker is open. It names itself in every decision and receipt (`policyId`), and its hash is
 * of its own id, so a receipt never looks as if a Cedar policy decided. Replace it with the Cedar shields.
 */
export const REQUIRE_NOTHING_SHIELD: PolicyShield = Object.freeze({
  decide: (): ShieldDecision => REQUIRE_NOTHING_DECISION,
});

const REQUIRE_NOTHING_DECISION: ShieldDecision = Object.freeze({
  requireChannelBinding: false,
  requireKeyBinding: false,
  requireHybrid: false,
  whenOpen: 'fail_closed',
  policyId: 'builtin:require-nothing',
  // sha-256("builtin:require-nothing")
  policyHash: '126273f08a3f3c2401c54b3824dd25f5e536f10fb06c5f7381d321c636443f1e',
});
