import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '.gapmap/', '.scratch/', 'test-output/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
