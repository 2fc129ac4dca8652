import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

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
