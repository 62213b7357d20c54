import nx from '@nx/eslint-plugin';
import globals from 'globals';

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  { ignores: ['**/dist', '**/node_modules', '**/coverage', 'tmp', 'var'] },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:test', onlyDependOnLibsWithTags: ['type:lib', 'type:app'] },
            { sourceTag: 'scope:core', onlyDependOnLibsWithTags: ['scope:core'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The repository checks compare the docs with each app's configuration schema (and nothing else of an app).
    files: ['tests/repo/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: ['@ctp/app-ctp/src/config', '@ctp/app-issuer/src/config', '@ctp/app-introspector/src/config', '@ctp/app-revocation-broadcaster/src/config', '@ctp/app-ledger-writer/src/config'],
          depConstraints: [{ sourceTag: 'type:test', onlyDependOnLibsWithTags: ['type:lib', 'type:app'] }],
        },
      ],
    },
  },
  {
    // The JavaScript tools (benches, chart scripts) are not type-checked: catch undeclared names at least.
    files: ['tools/**/*.mjs', 'tools/**/*.cjs', 'tools/**/*.js'],
    languageOptions: { globals: globals.node },
    rules: { 'no-undef': 'error' },
  },
  {
    files: ['**/*.spec.ts', '**/*.fault.ts', 'tools/**'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // Test support never ships: only specs, fault suites and tools import it (and the demo partner
    // app's test harness, which only its specs import: it starts `ctp up` as `npm run demo` does).
    files: ['apps/*/src/**/*.ts', 'libs/*/src/**/*.ts'],
    ignores: ['**/*.spec.ts', '**/*.fault.ts', 'libs/testing/**', 'apps/demo-partner/src/harness.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: '@ctp/testing', message: 'test support: import it from *.spec.ts files only.' }],
          patterns: [{ group: ['@ctp/*/internal'], message: "a library's ./internal subpath is test support: import it from *.spec.ts files only." }],
        },
      ],
    },
  },
  {
    // Each library names its public surface (issue 11): index.ts lists every export, test-only
    // helpers go to internal.ts (the ./internal subpath), and neither re-exports a whole module.
    files: ['libs/*/src/index.ts', 'libs/*/src/internal.ts'],
    rules: {
      'no-restricted-syntax': ['error', { selector: 'ExportAllDeclaration', message: 'name each export: `export { a, type B } from ...`, never `export *`.' }],
    },
  },
  {
    // ctp-core and ledger-core are pure: hashing and verification take data and return data.
    // This rule replaces the one above for these files, so it names @ctp/testing (servers) too.
    files: ['libs/ctp-core/src/**/*.ts', 'libs/ledger-core/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['fs', 'node:fs', 'fs/promises', 'node:fs/promises', 'net', 'node:net', 'http', 'node:http',
            'https', 'node:https', 'child_process', 'node:child_process', 'dgram', 'node:dgram', 'dns', 'node:dns',
            'tls', 'node:tls', 'worker_threads', 'node:worker_threads', 'express', 'ioredis', 'postgres', '@ctp/testing']
            .map((name) => ({ name, message: 'this core library does no I/O: move this to a service library.' })),
        },
      ],
      'no-restricted-globals': ['error', { name: 'fetch', message: 'this core library does no I/O.' }],
    },
  },
  {
    // The event catalogue sits below the domains: it knows the bus's types and the pure core's
    // constants (the replay window, the jti spelling), nothing else of CTP.
    files: ['libs/events/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [{ name: '@ctp/bus', allowTypeImports: true, message: 'the event catalogue imports only types from @ctp/bus.' }],
          patterns: [{ group: ['@ctp/*', '!@ctp/bus', '!@ctp/ctp-core'], message: 'the event catalogue sits below the domains: it imports no other CTP library.' }],
        },
      ],
    },
  },
  {
    // The SDK is published outside the workspace: ctp-core is bundled into it, jose is its dependency,
    // and nothing of the services may leak in (prom-client and express stay optional peers).
    files: ['libs/sdk/src/**/*.ts'],
    ignores: ['libs/sdk/src/**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@ctp/*', '!@ctp/ctp-core'], message: 'The SDK may import only @ctp/ctp-core of the workspace (it is bundled into the published package).' }] },
      ],
    },
  },
];
