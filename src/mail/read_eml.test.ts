import { test } from "node:test";
import assert from "node:assert/strict";
import { readEml } from "./read_eml.js";
import { formatMessage } from "./rfc5322.js";

test("an outbox mail reads back with its Japanese subject and body intact", () => {
  const raw = formatMessage({ from: "CA <ca@example.jp>", to: "taro@example.jp", subject: "【証明】パスコードのお知らせ（とても長い件名を複数の符号化語に分ける）", text: "山田 太郎 様\nユーザID: a0000001\n", date: new Date(Date.UTC(2026, 11, 4, 1, 2, 3)) });
  const m = readEml(raw);
  assert.equal(m.subject, "【証明】パスコードのお知らせ（とても長い件名を複数の符号化語に分ける）");
  assert.equal(m.to, "taro@example.jp");
  assert.equal(m.date, "Fri, 4 Dec 2026 01:02:03 +0000");
  assert.equal(m.text, "山田 太郎 様\nユーザID: a0000001\n");
});
