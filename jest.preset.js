// Shared Jest settings. `transform` must stay a plain string: @nx/jest's plugin
// crashes on the `[name, options]` tuple form. ts-jest transpiles without type
// checking because tsconfig sets isolatedModules; `npm run typecheck` checks types.
// ESM-only packages in ESM_ONLY are compiled to CommonJS by tools/jest/esm-to-cjs.cjs.
const ESM_ONLY = ['jose', 'pkijs', 'asn1js', 'bytestreamjs', '@peculiar/utils', '@noble/hashes', '@noble/curves', '@noble/post-quantum'];
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': 'ts-jest', '^.+\\.m?js$': `${__dirname}/tools/jest/esm-to-cjs.cjs` },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY.map((p) => p.replace('/', '\\/')).join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'json'],
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
  // Generous for hooks that start `ctp up` (embedded PostgreSQL) on a loaded 2-core machine; startService gives up at 45 s.
  testTimeout: 60000,
};
