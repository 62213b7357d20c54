// Fault tests stop and restart the shared NATS and Redis servers, so `npm test`
// runs them on their own, after every other suite, in band.
module.exports = {
  displayName: 'revocation-faults',
  preset: '../../jest.preset.js',
  testMatch: ['<rootDir>/src/**/*.fault.ts'],
  testTimeout: 60000,
};
