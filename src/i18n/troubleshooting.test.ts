/** docs/troubleshooting.md is exactly what the error catalog generates, and covers every code. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { BACKGROUND } from "./background_messages.js";
import { ERRORS } from "./errors.js";
import { renderTroubleshooting } from "./troubleshooting.js";

const PAGE = fileURLToPath(new URL("../../../docs/troubleshooting.md", import.meta.url));

test("docs/troubleshooting.md is up to date with the error catalog (npm run docs:errors)", () => {
  const page = readFileSync(PAGE, "utf8");
  assert.ok(page === renderTroubleshooting(), "docs/troubleshooting.md differs from the catalog: run `npm run docs:errors` and commit it");
  for (const code of Object.keys(ERRORS)) {
    assert.equal(page.split(`| \`${code}\` |`).length - 1, 2, `${code} appears once in each language`);
  }
  for (const code of Object.keys(BACKGROUND)) assert.equal(page.split(`| \`${code}\` |`).length - 1, 1, `serve's line ${code} is listed`);
});

test("every catalog entry has Japanese and English text and a remedy in both", () => {
  for (const [code, e] of Object.entries(ERRORS)) {
    for (const field of ["ja", "en", "remedyJa", "remedyEn"] as const) assert.ok(e[field].trim().length > 0, `${code}.${field}`);
    assert.match(e.ja + e.remedyJa, /[\u3040-\u30ff\u4e00-\u9fff]/, `${code} has Japanese text`);
  }
});
