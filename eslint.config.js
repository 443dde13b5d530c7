// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Dependencies point one way (STYLE.md):
 * bin → cli | daemon → verify | inspect → controllers | gateway → reconcile | incus | firewall | sanitizer | config → schemas → shared.
 * Each folder may not import the folders listed against it here.
 */
const forbidden = {
  shared: ['verify', 'inspect', 'schemas', 'config', 'incus', 'reconcile', 'firewall', 'sanitizer', 'controllers', 'daemon', 'gateway', 'cli', 'bin'],
  schemas: ['verify', 'inspect', 'config', 'incus', 'reconcile', 'firewall', 'sanitizer', 'controllers', 'daemon', 'gateway', 'cli', 'bin'],
  config: ['verify', 'inspect', 'incus', 'reconcile', 'firewall', 'sanitizer', 'controllers', 'daemon', 'gateway', 'cli', 'bin'],
  incus: ['verify', 'inspect', 'reconcile', 'firewall', 'sanitizer', 'controllers', 'daemon', 'gateway', 'cli', 'bin'],
  reconcile: ['verify', 'inspect', 'incus', 'firewall', 'sanitizer', 'controllers', 'daemon', 'gateway', 'cli', 'bin'],
  firewall: ['verify', 'inspect', 'incus', 'reconcile', 'sanitizer', 'controllers', 'daemon', 'gateway', 'cli', 'bin'],
  sanitizer: ['verify', 'inspect', 'incus', 'reconcile', 'firewall', 'controllers', 'daemon', 'gateway', 'cli', 'bin'],
  controllers: ['verify', 'inspect', 'daemon', 'gateway', 'cli', 'bin'],
  // The daemon is wiring like the CLI: it runs controllers; only bin starts it.
  daemon: ['gateway', 'cli', 'bin'],
  gateway: ['verify', 'inspect', 'incus', 'reconcile', 'firewall', 'controllers', 'daemon', 'cli', 'bin'],
  cli: ['daemon', 'bin'],
  // inspect looks at a domain from inside it: it reads the model and Incus, and is run by the CLI.
  inspect: ['verify', 'daemon', 'gateway', 'cli', 'bin'],
  // verify probes what the controllers converged: it reads the model, the holder and the rendered table, and is run by the CLI and the daemon.
  verify: ['daemon', 'gateway', 'cli', 'bin'],
  // anklume-mcp-local runs alone in a claude_code machine: the task table and nothing of the operator.
  mcp: ['verify', 'inspect', 'config', 'incus', 'reconcile', 'firewall', 'sanitizer', 'controllers', 'daemon', 'gateway', 'cli', 'bin'],
};

const layerPatterns = (folder) =>
  forbidden[folder].map((b) => ({
    group: [`**/${b}/*`, `**/${b}`],
    message: `src/${folder} must not import src/${b} (see STYLE.md: dependencies point one way).`,
  }));
const layerRules = Object.keys(forbidden).map((folder) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: { 'no-restricted-imports': ['error', { patterns: layerPatterns(folder) }] },
}));
/**
 * Inside src/controllers the same holds between controllers (docs/architecture.md):
 * a service deploys into the domain's instances and the firewall renders the AI
 * access holder, never the other way; the shared files at the top (status,
 * object ids, the observation) import no controller. whole-pass.ts runs them all.
 */
const controllerForbidden = {
  domain: ['service', 'firewall', 'ai-access'],
  'ai-access': ['domain', 'service', 'firewall'],
  firewall: ['domain', 'service'],
  service: ['firewall', 'ai-access'],
};
const siblingRule = (files, banned, prefix) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...layerPatterns('controllers'),
          ...banned.map((b) => ({ group: [`${prefix}${b}/*`], message: `${files[0]} must not import controllers/${b} (see docs/architecture.md).` })),
        ],
      },
    ],
  },
});
const controllerRules = [
  ...Object.entries(controllerForbidden).map(([c, banned]) => siblingRule([`src/controllers/${c}/**/*.ts`], banned, '../')),
  { ...siblingRule(['src/controllers/*.ts'], Object.keys(controllerForbidden), './'), ignores: ['src/controllers/whole-pass.ts'] },
];

export default tseslint.config(
  { ignores: ['dist/**', 'dist-check/**', 'node_modules/**', 'coverage/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...layerRules,
  ...controllerRules,
  {
    // process.env is read in config/ and bin/ only (STYLE.md convention 5).
    files: ['src/**/*.ts'],
    ignores: ['src/config/**', 'src/bin/**'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read the environment in src/config or src/bin only.' }],
    },
  },
  {
    // Test corpora bend plain YAML data on purpose; the code under test is strictly typed.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
);
