// Lint configuration: typescript-eslint's type-aware recommended rules, plus the
// architecture's import boundaries (see docs/architecture.md).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const restrict = (patterns) => ["error", { patterns }];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-floating-promises": ["error", {
        allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["test", "describe", "it", "suite", "before", "after", "beforeEach", "afterEach"] }],
      }],
      eqeqeq: ["error", "always"],
    },
  },
  {
    // @peculiar/x509 needs reflect-metadata loaded first: only src/pki/x509lib.ts imports it.
    files: ["src/**/*.ts", "test/**/*.ts", "bench/**/*.ts"],
    // src/web/browser/x509web.ts is the browser's counterpart (reflect-metadata and the page's WebCrypto).
    ignores: ["src/pki/x509lib.ts", "src/web/browser/x509web.ts"],
    rules: { "no-restricted-imports": restrict([{ group: ["@peculiar/x509"], message: "import from src/pki/x509lib.js" }]) },
  },
  {
    files: ["src/pki/**/*.ts"],
    ignores: ["src/pki/x509lib.ts", "src/**/*.test.ts"],
    rules: {
      "no-restricted-imports": restrict([
        { group: ["@peculiar/x509"], message: "import from ./x509lib.js" },
        { group: ["node:fs", "node:fs/*", "node:net", "node:tls", "node:http", "node:https", "kysely", "fastify", "../*", "!../i18n"], message: "src/pki is pure: no I/O and no other layer" },
      ]),
    },
  },
  {
    files: ["src/ca/**/*.ts", "src/registration/**/*.ts", "src/portal/**/*.ts"],
    rules: {
      "no-restricted-imports": restrict([
        { group: ["kysely", "better-sqlite3", "pg", "fastify", "node:fs", "node:fs/*", "../store/*", "../est/*", "../server/*", "../client/*", "../cli/*", "../web/*"], message: "the domain declares ports; store/ and the HTTP layers implement and call them" },
      ]),
    },
  },
  {
    files: ["src/client/**/*.ts", "src/cli/shomei.ts", "src/cli/user/**/*.ts"],
    rules: {
      "no-restricted-imports": restrict([
        { group: ["../ca/*", "../registration/*", "../store/*", "../est/*", "../server/*", "../mail/*", "kysely", "fastify"], message: "the client never imports server code" },
      ]),
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { parserOptions: { projectService: false }, globals: { process: "readonly", console: "readonly", URL: "readonly" } },
  },
);
