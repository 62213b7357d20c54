// Shared Jest settings. `transform` must stay a plain string: @nx/jest's plugin
// crashes on the `[name, options]` tuple form. ts-jest transpiles without type
// checking because tsconfig sets isolatedModules; `npm run typecheck` checks types.
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': 'ts-jest' },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
  testTimeout: 30000,
};
