// The production shape on loopback (tools/topology) under load, with one process of each role killed
// in turn (`npm run test:topology`, run by .ci/run after npm test). Not named jest.config.js, so Nx
// infers no `test` target and `nx run-many -t test` never runs it beside other suites.
module.exports = {
  displayName: 'topology',
  preset: '../../jest.preset.js',
  testMatch: ['<rootDir>/*.topology.ts'],
  testTimeout: 600000,
};
