#!/usr/bin/env node
// The whole test suite, as the README and CI run it: type-check and build, lint, then every
// test with Node's test runner. Prints one line naming tests skipped for a missing tool and
// how to install it (under CI=true such tests fail instead). Ends with the runner's summary.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const step = (name, cmd, args) => {
  process.stdout.write(`\n== ${name}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    process.stdout.write(`\n${name} failed (exit ${r.status}).\n0 passed, 1 failed\n`);
    process.exit(r.status ?? 1);
  }
};

rmSync(join(root, "dist"), { recursive: true, force: true });
step("type-check and build (tsc)", "npx", ["tsc", "-p", "tsconfig.json"]);
step("make the commands executable (package.json bin)", process.execPath, ["scripts/bin-mode.mjs"]);
step("type-check and bundle the browser pages' script (esbuild)", process.execPath, ["scripts/build-browser.mjs"]);
step("lint (eslint)", "npx", ["eslint", "."]);

const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith(".test.js")) files.push(p);
  }
};
for (const d of ["dist/src", "dist/test"]) walk(join(root, d));
const filter = process.argv.slice(2);
const selected = filter.length ? files.filter((f) => filter.some((x) => f.includes(x))) : files;

const { TOOLS, has } = await import(join(root, "dist/test/helpers/tools.js"));
const missing = [];
for (const [key, tool] of Object.entries(TOOLS)) if (!(await has(key))) missing.push(tool);
if (missing.length) {
  const what = missing.map((t) => `${t.name} (${t.install})`).join("; ");
  process.stdout.write(process.env.CI === "true"
    ? `\nCI: these tools are missing and the tests that need them will FAIL: ${what}\n`
    : `\nSkipping the tests that need: ${what}\n`);
}

process.stdout.write(`\n== tests (${selected.length} files)\n`);
const r = spawnSync(process.execPath, ["--test", "--test-reporter=spec", "--test-concurrency=2", ...selected], {
  cwd: root, stdio: "inherit", env: { ...process.env, NODE_NO_WARNINGS: "1" },
});
process.exit(r.status ?? 1);
