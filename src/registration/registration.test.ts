/** Passcodes, initial passwords and the mail format, without any I/O. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePasscode, normalisePasscode, passcodeHash, sameHash, PASSCODE_ALPHABET } from "./passcode.js";
import { generateInitialPassword, hashPassword, verifyPassword } from "./password.js";
import { encodeHeaderWords, formatMessage } from "../mail/rfc5322.js";

test("passcodes: 16 characters of the alphabet in 4 groups, about 79 bits", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const p = generatePasscode();
    assert.match(p, /^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
    for (const ch of p.replace(/-/g, "")) assert.ok(PASSCODE_ALPHABET.includes(ch), ch);
    seen.add(p);
  }
  assert.equal(seen.size, 500);
  assert.ok(16 * Math.log2(PASSCODE_ALPHABET.length) > 79);
});

test("passcode input ignores case, hyphens, spaces and full-width forms", () => {
  assert.equal(normalisePasscode(" abcd-efgh jkmn－pqrs "), "ABCDEFGHJKMNPQRS");
  assert.equal(normalisePasscode("ＡＢＣＤ－２３４５"), "ABCD2345");
  const secret = Buffer.alloc(32, 7);
  const h = passcodeHash(secret, "a0000001", "ABCD-EFGH-JKMN-PQRS");
  assert.ok(sameHash(h, passcodeHash(secret, "a0000001", "abcdefghjkmnpqrs")));
  assert.ok(!sameHash(h, passcodeHash(secret, "a0000002", "ABCD-EFGH-JKMN-PQRS")), "bound to the user ID");
  assert.ok(!sameHash(h, passcodeHash(Buffer.alloc(32, 8), "a0000001", "ABCD-EFGH-JKMN-PQRS")), "keyed by the server secret");
  assert.ok(!sameHash(h, ""));
});

test("initial passwords are strong and stored as argon2id", async () => {
  const p = generateInitialPassword();
  assert.equal(p.length, 16);
  assert.match(p, /[a-z]/);
  assert.match(p, /[A-Z]/);
  assert.match(p, /[0-9]/);
  const h = await hashPassword(p);
  assert.match(h, /^\$argon2id\$/);
  assert.equal(await verifyPassword(h, p), true);
  assert.equal(await verifyPassword(h, p + "x"), false);
  assert.equal(await verifyPassword("garbage", p), false);
});

test("mail: encoded-word subjects stay within RFC 2047 limits and lines end in CRLF", () => {
  const subject = "【Shomei】クライアント証明書取得用パスコードのお知らせ".repeat(2);
  const enc = encodeHeaderWords(subject);
  for (const word of enc.split("\r\n ")) assert.ok(word.length <= 75, word);
  assert.equal(encodeHeaderWords("plain ascii"), "plain ascii");
  const msg = formatMessage({ to: "a@example.jp", from: "S <s@example.jp>", subject, text: "一行目\n二行目", date: new Date("2026-01-02T03:04:05Z") });
  assert.match(msg, /^Date: Fri, 2 Jan 2026 03:04:05 \+0000\r$/m);
  assert.ok(!/[^\r]\n/.test(msg), "bare LF");
  assert.equal(Buffer.from(msg.split("\r\n\r\n")[1]?.replace(/\r\n/g, "") ?? "", "base64").toString("utf8"), "一行目\r\n二行目");
});
