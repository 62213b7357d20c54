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
            { sourceTag: 'scope:core', onlyDependOnLibsWithTags: ['scope:core'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.spec.ts', 'tools/**'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
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
