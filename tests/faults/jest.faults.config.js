// Fault suites stop and restart the NATS and Redis servers the tests use (CTP_TEST_NATS_URL,
// CTP_TEST_REDIS_URL; the shared ones by default), so `npm test` runs them on their own, after
// every other suite, in band. The file is not named jest.config.js so that Nx infers no `test`
// target from it: `nx run-many -t test` must never run it alongside other suites.
module.exports = {
  displayName: 'revocation-faults',
  preset: '../../jest.preset.js',
  testMatch: ['<rootDir>/src/**/*.fault.ts'],
  testTimeout: 120000,
};
