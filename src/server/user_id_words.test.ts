import { test } from "node:test";
import assert from "node:assert/strict";
import { describeUserIdPattern } from "./user_id_words.js";

test("user ID patterns in words; none for what is not simple", () => {
  assert.deepEqual(describeUserIdPattern("^a[0-9]{7}$"), { ja: "「a」の後に数字 7 文字", en: '"a" followed by 7 digits' });
  assert.deepEqual(describeUserIdPattern("^[A-Z]{2}\\d{4,6}$"), { ja: "英大文字 2 文字の後に数字 4〜6 文字", en: "2 capital letters followed by 4 to 6 digits" });
  assert.equal(describeUserIdPattern("^(a|b)[0-9]+$"), undefined);
  assert.equal(describeUserIdPattern("^.*$"), undefined);
});
