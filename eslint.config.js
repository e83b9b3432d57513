// Lint rules: typescript-eslint's recommended set, plus the import boundaries that keep the
// core free of adapters and forbid shell-string child processes.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Shell-string child processes, refused everywhere (blocks that set their own import rules repeat it). */
const CHILD_PROCESS_EXEC = ['child_process', 'node:child_process'].map((name) => ({
  name,
  importNames: ['exec', 'execSync'],
  message: 'spawn with an argument array, never a shell string',
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/fixtures/**', '.nimbus/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        {
          paths: CHILD_PROCESS_EXEC,
        },
      ],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../*/**', '!../core/**'],
              message: 'core imports nothing below it: no engine, adapters, api or cli',
            },
            {
              group: ['node:*', 'fastify', 'kysely', 'better-sqlite3', 'pino'],
              message: 'core is pure domain code: no I/O libraries',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/store/**',
                '**/blobs/**',
                '**/sandbox/**',
                '**/packaging/**',
                '**/api/**',
                '**/cli/**',
              ],
              message: 'engine uses core ports (SandboxDriver, PackageBuilder, …), not adapters',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/api/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: CHILD_PROCESS_EXEC,
          patterns: [
            {
              group: ['**/sandbox/**', '**/store/**', '**/blobs/**', '**/packaging/**'],
              message:
                'the API reaches sandboxes, stores, blobs and packaging only through the engine and the ApiDeps it is given',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/runtimes/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../../*', '!../protocol.js'],
              message: 'runtimes run inside the sandbox: they import no platform code',
            },
          ],
        },
      ],
    },
  },
  {
    // Example functions may be CommonJS, as much Lambda code is.
    files: ['examples/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', exports: 'writable' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Response bodies in end-to-end tests are whatever the server sent; asserting on them is the point.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
