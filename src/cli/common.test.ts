/** splitCommandLine: which words are global options, which is the command, what the command gets. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { splitCommandLine } from "./common.js";
import { isShomeiError } from "../i18n/errors.js";

test("global options before the command word are taken off; the rest goes to the command as given", () => {
  const c = splitCommandLine(["--lang", "en", "-h", "user", "add", "a0000001", "--lang", "ja"]);
  assert.equal(c.lang, "en");
  assert.equal(c.help, true);
  assert.equal(c.version, false);
  assert.deepEqual(c.leading, ["--lang", "en", "-h"]);
  assert.equal(c.command, "user");
  assert.deepEqual(c.rest, ["add", "a0000001", "--lang", "ja"], "after the command, --lang is the command's");
  assert.equal(splitCommandLine(["--lang=ja", "list"]).lang, "ja");
});

test("--version or -V counts anywhere before a \"--\"", () => {
  assert.equal(splitCommandLine(["list", "--store", "s", "--version"]).version, true);
  assert.equal(splitCommandLine(["-V"]).version, true);
  assert.equal(splitCommandLine(["-V"]).command, undefined);
  assert.equal(splitCommandLine(["list", "--", "--version"]).version, false);
});

test("an option that is not global ends the leading part and is named as the command word", () => {
  const c = splitCommandLine(["--data", "/srv/shomei", "user", "list"]);
  assert.equal(c.command, "--data");
  assert.deepEqual(c.leading, []);
  assert.equal(splitCommandLine([]).command, undefined);
});

test("--lang must be ja or en (FIELD_INVALID) and must have a value (USAGE)", () => {
  const code = (argv: string[]): string | undefined => {
    try {
      splitCommandLine(argv);
      return undefined;
    } catch (e) {
      return isShomeiError(e) ? e.code : "not a ShomeiError";
    }
  };
  assert.equal(code(["--lang", "fr", "list"]), "FIELD_INVALID");
  assert.equal(code(["--lang=", "list"]), "FIELD_INVALID");
  assert.equal(code(["--lang"]), "USAGE");
});
