#!/usr/bin/env node
// The browser's issuance application: type-checks src/web/browser (DOM types, its own
// tsconfig) and bundles src/web/browser/enroll.ts with esbuild into dist/browser/enroll.js,
// which the EST listener (/enroll) and the portal (/me/renew) serve with an integrity hash.
// Run by `npm run build`, `prepare` and scripts/test.mjs; the output is never committed.
import { spawnSync } from "node:child_process";
import { build } from "esbuild";

const root = new URL("..", import.meta.url).pathname;
const tsc = spawnSync("npx", ["tsc", "-p", "src/web/browser/tsconfig.json"], { cwd: root, stdio: "inherit" });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
await build({
  absWorkingDir: root,
  entryPoints: { enroll: "src/web/browser/enroll.ts" },
  outdir: "dist/browser",
  bundle: true,
  format: "iife",
  platform: "browser",
  // Edge/Chrome, Firefox and Safari of the last few years (BigInt, WebCrypto, IndexedDB).
  target: ["chrome100", "edge100", "firefox100", "safari15"],
  minify: true,
  legalComments: "none",
  logLevel: "warning",
});
