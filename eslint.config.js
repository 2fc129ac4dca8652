import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.sandbox/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The emulator (src/sandbox) is a test double of Azure and Atlas, not part of the product: product code reaches
    // clouds through src/endpoints.ts. Only the local host and the commands that drive the emulator may import it.
    // (src/core has its own, stricter no-restricted-imports below, which already forbids this.)
    files: ['src/**/*.ts'],
    ignores: [
      'src/sandbox/**',
      'src/local/**',
      'src/commands/sandbox.ts',
      'src/commands/start.ts',
      'src/commands/demo.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)sandbox(/|$)',
              message: 'product code must not import the emulator (src/sandbox): use src/endpoints.ts.',
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ImportExpression[source.value=/(^|\\/)sandbox(\\/|$)/]',
          message: 'product code must not import the emulator (src/sandbox): use src/endpoints.ts.',
        },
      ],
    },
  },
  {
    // Small named functions, product and emulator alike (the emulator as route tables of small handlers). 15 and 80
    // are the limits the loop issue measured against; a function over them is a set of steps waiting for names.
    files: ['src/**/*.ts'],
    rules: {
      complexity: ['error', 15],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // No import cycles anywhere in src/ (type-only imports included: a cycle of types is still a tangle).
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver()],
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
    rules: { 'import-x/no-cycle': 'error' },
  },
  {
    // The loop's judge, decide and plan steps are pure like core/: they may name adapter types, never call them.
    files: ['src/loop/judge.ts', 'src/loop/decide.ts', 'src/loop/plan.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../atlas/*', '../azure/*', '../state/*', '../alerts/*', '../observability/*', '../events/*'],
              allowTypeImports: true,
              message: 'judge/decide/plan are pure: import adapter types only (import type).',
            },
            { group: ['node:*', '@azure/*', 'undici', 'digest-fetch'], message: 'judge/decide/plan do no I/O.' },
          ],
        },
      ],
    },
  },
  {
    // core/ is pure: no I/O, no SDKs, no adapters. This is what keeps the evaluator exhaustively testable.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@azure/*', 'digest-fetch', 'undici'], message: 'core/ is pure: no SDK imports.' },
            { group: ['node:*', 'fs', 'http', 'https', 'net', 'child_process'], message: 'core/ does no I/O.' },
            { group: ['../*', '!../core/*'], message: 'core/ must not import adapters.' },
          ],
        },
      ],
    },
  },
);
