import { test } from "node:test";
import assert from "node:assert/strict";
import { auditUserId, boundAuditEvent, invalidUserIdMarker } from "./audit_input.js";
import { boundedText } from "../util/untrusted_text.js";

const T = new Date("2026-12-04T00:00:00Z");

test("a user ID is kept when it matches the pattern, otherwise it is a short, stable marker", () => {
  const pattern = /^a[0-9]{7}$/;
  assert.equal(auditUserId("a0000001", pattern), "a0000001");
  const hostile = `a0000001\u202E\u0000${"x".repeat(7990)}`;
  const marker = auditUserId(hostile, pattern);
  assert.match(marker, /^invalid:[0-9a-f]{12}$/);
  assert.equal(marker, invalidUserIdMarker(hostile), "the same input, the same marker (searchable)");
  assert.notEqual(auditUserId("a00000012", pattern), "a00000012");
  assert.equal(auditUserId(marker, pattern), marker, "a marker passes through");
  // Without a pattern (the store's own check): printable ASCII without spaces, at most 64.
  assert.equal(auditUserId("operator-7"), "operator-7");
  assert.match(auditUserId("a 1"), /^invalid:/);
  assert.match(auditUserId("x".repeat(65)), /^invalid:/);
});

test("text is escaped visibly and capped, with the cut marked inside the limit", () => {
  assert.equal(boundedText("abc\u202Edef\u0000g\u200F\u2066\u061C\u001B\\"), "abc\\u202Edef\\u0000g\\u200F\\u2066\\u061C\\u001B\\\\");
  assert.equal(boundedText("山田 太郎 😀"), "山田 太郎 😀", "ordinary text, surrogate pairs included, is unchanged");
  const long = boundedText("z".repeat(40_000), 200);
  assert.ok(long.length <= 200, String(long.length));
  assert.match(long, /^z+…\[\+\d+\]$/);
  assert.equal(Number(/\+(\d+)\]$/.exec(long)?.[1]) + long.indexOf("…"), 40_000, "N counts what was left out");
  const escapes = boundedText("\u202E".repeat(100), 20);
  assert.ok(escapes.length <= 20 && /^(\\u202E)+…/.test(escapes), escapes);
});

test("an event is bounded as a whole: actor, user ID, detail values and the number of keys", () => {
  const hostile = `evil\u202E${"q".repeat(8000)}`;
  const detail: Record<string, string | number> = { typed: hostile, requestedSubject: `CN=${"s".repeat(40_000)}`, n: 3 };
  for (let i = 0; i < 20; i++) detail[`key${i}`] = i;
  const e = boundAuditEvent({ at: T, actor: `user:${hostile}`, event: "login", userId: hostile, outcome: "failure", detail });
  assert.match(e.userId ?? "", /^invalid:[0-9a-f]{12}$/);
  assert.equal(e.actor, `user:${e.userId}`);
  assert.equal(e.detail?.typed, e.userId);
  assert.ok(String(e.detail?.requestedSubject).length <= 200);
  assert.equal(e.detail?.n, 3);
  assert.equal(Object.keys(e.detail ?? {}).length, 17);
  assert.equal(e.detail?.["…"], "+7 keys");
  const ok = { at: T, actor: "operator:a0000000", event: "user.register", userId: "a0000001", outcome: "success" as const, detail: { email: "taro@example.jp" } };
  assert.deepEqual(boundAuditEvent(ok), ok, "an ordinary event is unchanged");
});
