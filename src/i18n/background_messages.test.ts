/** The background lines serve writes on stderr: every code in both languages with a remedy, in the operator's language. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BACKGROUND, backgroundLang, backgroundLine, type BackgroundCode } from "./background_messages.js";

const JAPANESE = /[\u3040-\u30ff\u4e00-\u9fff]/;

test("every background code has a Japanese and an English message and remedy", () => {
  const codes = Object.keys(BACKGROUND) as BackgroundCode[];
  assert.ok(codes.length >= 15);
  for (const code of codes) {
    assert.match(code, /^[A-Z][A-Z_]+$/);
    const ja = backgroundLine(code, undefined, "ja");
    const en = backgroundLine(code, undefined, "en");
    assert.ok(ja.startsWith(`[${code}] `) && JAPANESE.test(ja) && ja.includes(" 対処: "), ja);
    assert.ok(en.startsWith(`[${code}] `) && !JAPANESE.test(en) && en.includes(" What to do: "), en);
  }
});

test("a background line carries the error's message, and the language follows serve's --lang before the locale", () => {
  const line = backgroundLine("STATUS_CHECK_FAILED", new Error("SQLITE_CANTOPEN: unable to open database file"), "en");
  assert.equal(line, "[STATUS_CHECK_FAILED] Checking for revocation changes failed (the database cannot be reached). (SQLITE_CANTOPEN: unable to open database file) "
    + "What to do: Check the database connection; the checks resume by themselves once it answers (this line is written once per outage).");
  assert.equal(backgroundLang({ SHOMEI_LOG_LANG: "en", LANG: "ja_JP.UTF-8" }), "en");
  assert.equal(backgroundLang({ SHOMEI_LOG_LANG: "ja", LANG: "en_US.UTF-8" }), "ja");
  assert.equal(backgroundLang({ LANG: "en_US.UTF-8" }), "en");
  assert.equal(backgroundLang({ SHOMEI_LOG_LANG: "fr" }), "ja", "no usable setting: Japanese");
});
