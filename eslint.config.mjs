import nx from '@nx/eslint-plugin';

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
    files: ['**/*.spec.ts', '**/*.fault.ts', 'tools/**'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // Test support never ships: only specs, fault suites and tools import it.
    files: ['apps/*/src/**/*.ts', 'libs/*/src/**/*.ts'],
    ignores: ['**/*.spec.ts', '**/*.fault.ts', 'libs/testing/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: '@ctp/testing', message: 'test support: import it from *.spec.ts files only.' }] }],
    },
  },
  {
    // ctp-core is pure: hashing and verification take data and return data.
    files: ['libs/ctp-core/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['fs', 'node:fs', 'fs/promises', 'node:fs/promises', 'net', 'node:net', 'http', 'node:http',
            'https', 'node:https', 'child_process', 'node:child_process', 'dgram', 'node:dgram', 'dns', 'node:dns',
            'tls', 'node:tls', 'worker_threads', 'node:worker_threads', 'express', 'ioredis', 'postgres']
            .map((name) => ({ name, message: 'ctp-core does no I/O: move this to a service library.' })),
        },
      ],
      'no-restricted-globals': ['error', { name: 'fetch', message: 'ctp-core does no I/O.' }],
    },
  },
];
