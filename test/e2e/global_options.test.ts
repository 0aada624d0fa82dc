/**
 * Issue 11, item 13: the global options (--lang, --help/-h, --version/-V) go before or after the
 * command word, help exits 0 for every command and subcommand, and a wrong option still exits 2
 * with USAGE. Real CLIs, a real CA folder (`shomei-ca init`).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { initCa, type TestCa } from "../helpers/ca.js";
import { ROOT, shomei, shomeiCa } from "../helpers/run.js";

const VERSION = (JSON.parse(readFileSync(`${ROOT}/package.json`, "utf8")) as { version: string }).version;
/** A Japanese locale, so English output can only come from --lang en. */
const JA = { env: { LANG: "ja_JP.UTF-8" } };

let ca: TestCa;
before(async () => { ca = await initCa(); });
after(() => ca?.cleanup());

test("shomei-ca --lang en user list|show --data DIR: --lang before the command works, in English", async () => {
  const list = await shomeiCa(["--lang", "en", "user", "list", "--data", ca.dir], JA);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^USERID\tSTATUS/m);
  assert.match(list.stdout, /^a0000000\tactive\toperator/m);
  const show = await shomeiCa(["--lang=en", "user", "show", "a0000000", "--data", ca.dir], JA);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^User ID: a0000000$/m);
  const missing = await shomeiCa(["--lang", "en", "user", "show", "a7654321", "--data", ca.dir], JA);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^Error \[USER_NOT_FOUND\]/m);
  assert.match(missing.stderr, /^What to do: /m);
});

test("shomei-ca: --lang after the command still works, and without it the locale decides", async () => {
  const after = await shomeiCa(["user", "show", "a0000000", "--data", ca.dir, "--lang", "en"], JA);
  assert.match(after.stdout, /^User ID: a0000000$/m);
  const ja = await shomeiCa(["user", "show", "a0000000", "--data", ca.dir], JA);
  assert.match(ja.stdout, /^ユーザID: a0000000$/m);
});

test("shomei-ca --lang en user add: the leading --lang is the operator's; the user's e-mails stay Japanese by default", async () => {
  const r = await shomeiCa(["--lang", "en", "user", "add", "a0000042", "--email", "u42@example.jp", "--name", "山田 太郎", "--data", ca.dir], JA);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /[ぁ-ん]/, "the operator asked for English output");
  const shown = await shomeiCa(["user", "show", "a0000042", "--data", ca.dir, "--lang", "en"]);
  assert.match(shown.stdout, /^Status: \S+ \/ user \/ ja$/m);
});

test("shomei-ca: every command's --help (and help COMMAND, --help COMMAND) prints its usage and exits 0", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["--help"], /^Usage: shomei-ca <command>/m],
    [["-h"], /^Usage: shomei-ca <command>/m],
    [["help"], /^Usage: shomei-ca <command>/m],
    [["help", "--help"], /^Usage: shomei-ca <command>/m],
    [["user", "--help"], /shomei-ca user list/],
    [["user", "list", "--help"], /shomei-ca user list/],
    [["passcode", "--help"], /shomei-ca passcode reissue/],
    [["cert", "--help"], /shomei-ca cert list/],
    [["mail", "--help"], /shomei-ca mail status/],
    [["keys", "--help"], /shomei-ca keys status/],
    [["init", "--help"], /shomei-ca init/],
    [["serve", "--help"], /shomei-ca serve/],
    [["start", "--help"], /shomei-ca start/],
    [["--help", "cert"], /shomei-ca cert list/],
    [["help", "mail"], /shomei-ca mail status/],
    [["--lang", "en", "help", "user"], /^Usage:\n {2}shomei-ca user add USERID/m],
  ];
  for (const [args, usage] of cases) {
    const r = await shomeiCa(args);
    assert.equal(r.code, 0, `shomei-ca ${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stdout, usage, `shomei-ca ${args.join(" ")}`);
  }
  const ja = await shomeiCa(["--lang", "ja", "mail", "--help"]);
  assert.match(ja.stdout, /^使い方:/m);
});

test("shomei-ca --version anywhere prints the version and exits 0", async () => {
  for (const args of [["--version"], ["-V"], ["--lang", "en", "--version"], ["user", "list", "--data", ca.dir, "--version"]]) {
    const r = await shomeiCa(args);
    assert.equal(r.code, 0, args.join(" "));
    assert.equal(r.stdout, `shomei-ca ${VERSION}\n`);
  }
});

test("shomei-ca: mistakes still exit 2 with USAGE or FIELD_INVALID, and say what is wrong", async () => {
  const unknownOption = await shomeiCa(["user", "list", "--bogus", "--data", ca.dir]);
  assert.equal(unknownOption.code, 2);
  assert.match(unknownOption.stderr, /^Error \[USAGE\].*--bogus/m);
  const misplaced = await shomeiCa(["--data", ca.dir, "user", "list"]);
  assert.equal(misplaced.code, 2);
  assert.match(misplaced.stderr, /^Error \[USAGE\].*option "--data" goes after the command/m);
  const unknownCommand = await shomeiCa(["--lang", "en", "frobnicate"]);
  assert.equal(unknownCommand.code, 2);
  assert.match(unknownCommand.stderr, /^Error \[USAGE\].*unknown command "frobnicate"/m);
  const unknownTopic = await shomeiCa(["help", "frobnicate"]);
  assert.equal(unknownTopic.code, 2);
  assert.match(unknownTopic.stderr, /\[USAGE\]/);
  const badLang = await shomeiCa(["--lang", "fr", "user", "list", "--data", ca.dir]);
  assert.equal(badLang.code, 2);
  assert.match(badLang.stderr, /\[FIELD_INVALID\].*--lang/);
  const noLang = await shomeiCa(["--lang"]);
  assert.equal(noLang.code, 2);
  assert.match(noLang.stderr, /\[USAGE\]/);
  const noSub = await shomeiCa(["cert"]);
  assert.equal(noSub.code, 2);
  assert.match(noSub.stdout, /shomei-ca cert list/);
});

test("shomei: help --help, help COMMAND, --help COMMAND and COMMAND --help exit 0 with the usage", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["help", "--help"], /^Usage: shomei <command>/m],
    [["help"], /^Usage: shomei <command>/m],
    [["help", "enroll"], /^Usage: shomei enroll --server URL/m],
    [["--help", "enroll"], /^Usage: shomei enroll --server URL/m],
    [["enroll", "--help"], /^Usage: shomei enroll --server URL/m],
    [["help", "enroll", "--lang", "en"], /^Usage: shomei enroll --server URL/m],
    [["--lang", "en", "list", "--help"], /^Usage: shomei list/m],
    [["-h", "doctor"], /^Usage: shomei doctor/m],
  ];
  for (const [args, usage] of cases) {
    const r = await shomei(args);
    assert.equal(r.code, 0, `shomei ${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stdout, usage, `shomei ${args.join(" ")}`);
  }
  assert.match((await shomei(["--lang", "ja", "help", "enroll"], JA)).stdout, /^使い方: shomei enroll/m);
});

test("shomei: --version anywhere; mistakes exit 2 with USAGE", async () => {
  for (const args of [["--version"], ["--lang", "en", "-V"], ["list", "--version"]]) {
    const r = await shomei(args);
    assert.equal(r.code, 0, args.join(" "));
    assert.equal(r.stdout, `shomei ${VERSION}\n`);
  }
  const unknownOption = await shomei(["list", "--bogus"]);
  assert.equal(unknownOption.code, 2);
  assert.match(unknownOption.stderr, /\[USAGE\].*--bogus/);
  const misplaced = await shomei(["--store", "x", "list"]);
  assert.equal(misplaced.code, 2);
  assert.match(misplaced.stderr, /\[USAGE\].*option "--store" goes after the command/);
  const unknownTopic = await shomei(["help", "frobnicate"]);
  assert.equal(unknownTopic.code, 2);
  assert.match(unknownTopic.stderr, /\[USAGE\]/);
});
