import { test } from "node:test";
import assert from "node:assert/strict";
import { checkPasscodeFormat, nameChar } from "./passcode_format.js";

test("a passcode's form: length and the alphabet, after folding case, width and hyphens", () => {
  assert.equal(checkPasscodeFormat("abcd-efgh-jkmn-pqrs"), undefined);
  assert.equal(checkPasscodeFormat("ＡＢＣＤ－ＥＦＧＨ ＪＫＭＮ－ＰＱＲＳ"), undefined);
  assert.deepEqual(checkPasscodeFormat("ABCD-EFGH-JKMN-PQR"), { length: 15, badChars: [] });
  assert.deepEqual(checkPasscodeFormat("OBCD-EFGH-JKMN-PQ10"), { length: 16, badChars: ["O", "1", "0"] });
  assert.deepEqual(checkPasscodeFormat("LBCD-EFGH-JKMN-PQRL"), { length: 16, badChars: ["L"] });
  assert.equal(nameChar("O", "en"), "O (letter)");
  assert.equal(nameChar("0", "ja"), "0（数字）");
  assert.equal(nameChar("\u0007", "en"), '"U+0007"');
});
