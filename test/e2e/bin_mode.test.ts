/**
 * Issue 11, item 5: after the suite's own build (a fresh dist/), `npx shomei …` and
 * `npx shomei-ca …` run: the bin files keep their execute bit and start with a shebang.
 * If this fails after a bare `tsc`, run `npm run build` (it runs scripts/bin-mode.mjs).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT, SHOMEI, SHOMEI_CA, run } from "../helpers/run.js";

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; bin: Record<string, string> };

test("package.json names the two commands, and they are the files the tests run", () => {
  assert.deepEqual(Object.keys(pkg.bin).sort(), ["shomei", "shomei-ca"]);
  assert.equal(join(ROOT, pkg.bin["shomei"] ?? ""), SHOMEI);
  assert.equal(join(ROOT, pkg.bin["shomei-ca"] ?? ""), SHOMEI_CA);
});

for (const [name, file] of [["shomei", SHOMEI], ["shomei-ca", SHOMEI_CA]] as const) {
  test(`${name}: executable for everyone (0755) and starts with #!/usr/bin/env node`, () => {
    assert.equal(statSync(file).mode & 0o777, 0o755, `${file}: run \`npm run build\``);
    assert.ok(readFileSync(file, "utf8").startsWith("#!/usr/bin/env node\n"));
  });

  test(`${name}: runs by its path alone, as a shell runs it`, async () => {
    const r = await run(file, ["--version"]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${name} ${pkg.version}\n`);
  });

  test(`npx ${name} --version runs the project's own command (offline, nothing installed)`, async () => {
    const r = await run("npx", ["--no-install", name, "--version"], {
      cwd: ROOT, env: { npm_config_offline: "true", npm_config_update_notifier: "false" }, timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${name} ${pkg.version}\n`);
  });
}
