/**
 * `shomei-ca mail show`: the operator reads the outbox's base64 .eml files decoded, per user,
 * the newest, or all; init and user add name the command.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { initCa, passcodeFor, tempDir, type TestCa } from "../helpers/ca.js";
import { shomeiCa } from "../helpers/run.js";
import { needs } from "../helpers/tools.js";

describe("shomei-ca mail show", { timeout: 180_000 }, () => {
  let ca: TestCa;
  before(async () => {
    ca = await initCa();
  });
  after(() => ca.cleanup());

  test("user add names the command; it shows the user's mails with the Japanese text intact", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const add = await shomeiCa(["user", "add", "a0000501", "--email", "taro@example.jp", "--name", "山田 太郎", "--data", ca.dir]);
    assert.equal(add.code, 0, add.stderr);
    assert.ok(add.stdout.includes(`shomei-ca mail show a0000501 --data ${ca.dir}`), add.stdout);

    const r = await shomeiCa(["mail", "show", "a0000501", "--data", ca.dir, "--lang", "ja"]);
    assert.equal(r.code, 0, r.stderr);
    // Both mails (passcode and initial password), decoded, with the headers a reader needs.
    assert.equal(r.stdout.match(/^宛先: taro@example\.jp$/gm)?.length, 2, r.stdout);
    assert.match(r.stdout, /^件名: .+/m);
    assert.match(r.stdout, /^差出人: .+@/m);
    assert.match(r.stdout, /^日時: .+\d{4}/m);
    assert.match(r.stdout, /山田 太郎/);
    assert.match(r.stdout, /^ユーザID: a0000501$/m);
    // The passcode shown is the one Python's e-mail parser reads from the same file.
    assert.ok(r.stdout.includes(await passcodeFor(ca.dir, "taro@example.jp")));
    assert.ok(!r.stdout.includes("a0000000@"), "no other user's mail");
  });

  test("without a user ID: the newest mail; with --all: every one", async () => {
    const files = readdirSync(join(ca.dir, "outbox")).filter((f) => f.endsWith(".eml")).sort();
    const newest = await shomeiCa(["mail", "show", "--data", ca.dir, "--lang", "en"]);
    assert.equal(newest.code, 0, newest.stderr);
    assert.equal(newest.stdout.match(/^==== /gm)?.length, 1);
    assert.ok(newest.stdout.includes(files.at(-1)!));
    const all = await shomeiCa(["mail", "show", "--all", "--data", ca.dir, "--lang", "en"]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout.match(/^==== /gm)?.length, files.length);
    assert.match(all.stdout, /^To: .+$/m);
  });

  test("no mail for that user, or none at all: a coded message and exit 1", async () => {
    const none = await shomeiCa(["mail", "show", "a0009999", "--data", ca.dir, "--lang", "en"]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /\[MAIL_NONE_FOR_USER\]/);
    const other = await initCa();
    try {
      rmSync(join(other.dir, "outbox"), { recursive: true, force: true });
      const empty = await shomeiCa(["mail", "show", "--data", other.dir, "--lang", "en"]);
      assert.equal(empty.code, 1);
      assert.match(empty.stderr, /\[MAIL_OUTBOX_EMPTY\]/);
    } finally {
      other.cleanup();
    }
  });

  test("a control character in a mail reaches the terminal written out, not as such", async () => {
    const file = join(ca.dir, "outbox", "99991231T235959-ffffffff.eml");
    writeFileSync(file, "From: a@example.jp\r\nTo: b@example.jp\r\nSubject: =?UTF-8?B?" + Buffer.from("件名\u001b[2J").toString("base64") +
      "?=\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + Buffer.from("本文\u202eabc\n").toString("base64") + "\r\n");
    try {
      const r = await shomeiCa(["mail", "show", "--data", ca.dir, "--lang", "en"]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.includes("Subject: 件名\\u001B[2J"), r.stdout);
      assert.ok(r.stdout.includes("本文\\u202Eabc"), r.stdout);
      assert.ok(!r.stdout.includes("\u001b") && !r.stdout.includes("\u202e"));
    } finally {
      rmSync(file);
    }
  });

  test("init names the command for the first operator's mails", async () => {
    const dir = join(tempDir(), "ca");
    try {
      const r = await shomeiCa(["init", "--data", dir, "--org", "テスト株式会社", "--hostname", "localhost", "--lang", "en"]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.includes(`shomei-ca mail show a0000000 --data ${dir}`), r.stdout);
    } finally {
      rmSync(join(dir, ".."), { recursive: true, force: true });
    }
  });
});
