// One lint config for the whole project: recommended rules plus the type-aware ones that catch
// floating promises (a missed `await` on an LDAP call would leak a connection).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '.serverless/', '.esbuild/', '.esbuild-*/', '.local/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // Every function bundles what it imports: full zod is ~450 KB and most of a cold start.
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'zod', message: "Use `import * as z from './zod.js'` (lib/zod.ts: zod/mini)." },
            { name: 'zod/mini', message: "Use `import * as z from './zod.js'` (lib/zod.ts sets the English messages)." },
          ],
        },
      ],
    },
  },
  { files: ['lib/zod.ts'], rules: { 'no-restricted-imports': 'off' } },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
