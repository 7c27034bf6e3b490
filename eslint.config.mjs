// Lint rules, including the layering the codebase relies on: only src/ssh talks to
// ssh2, only src/report to @actions/core, only src/local starts local processes.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const only = (module, owner) => ({
  name: module,
  message: `Only ${owner} may import ${module}; go through its interface instead.`,
})

export default tseslint.config(
  { ignores: ['dist/**', 'lib/**', 'node_modules/**', 'bench/work/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/ssh/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [only('ssh2', 'src/ssh')] }] },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/ssh/**', 'src/report/**', 'src/local/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [only('ssh2', 'src/ssh'), only('@actions/core', 'src/report'), only('child_process', 'src/local')] },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', Buffer: 'readonly' } },
  },
)
