/** boundedText and isPlainText with their fast path give what the per-character code they replace gave. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { boundedText, isPlainText } from "./untrusted_text.js";

// The code as it was before the fast path: every character looked at one by one.
const HIDDEN = /[\p{Cc}\p{Cs}\u061C\u180E\u200B-\u200F\u2028-\u202E\u2060-\u206F\uFEFF\\]/u;
const escapeChar = (ch: string): string => (ch === "\\" ? "\\\\" : `\\u${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`);
function oldBounded(s: string, max = 200): string {
  const pieces = Array.from(s, (ch) => [ch, HIDDEN.test(ch) ? escapeChar(ch) : ch] as const);
  if (pieces.reduce((n, [, p]) => n + p.length, 0) <= max) return pieces.map(([, p]) => p).join("");
  const room = Math.max(0, max - `…[+${s.length}]`.length);
  let out = "";
  let taken = 0;
  for (const [ch, piece] of pieces) {
    if (out.length + piece.length > room) break;
    out += piece;
    taken += ch.length;
  }
  return `${out}…[+${s.length - taken}]`;
}
const oldPlain = (s: string, max: number): boolean => s.length <= max && ![...s].some((ch) => HIDDEN.test(ch));

test("boundedText and isPlainText give the same text and answers as before for plain, hidden, surrogate and long input", () => {
  const alphabet = ["a", "Z", "0", " ", "山", "田", "😀", "\\", "\u0000", "\u001b", "\u202e", "\u200b", "\ufeff", "\ud800", "\udfff", "\u0085", "é", "\n"];
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const samples = ["", "a0000001", "passcode.failure", "CN=a0000001, O=テスト株式会社", "x".repeat(200), "x".repeat(201), "😀".repeat(100), "😀".repeat(101)];
  for (let i = 0; i < 3000; i++) samples.push(Array.from({ length: rand(260) }, () => alphabet[rand(alphabet.length)]).join(""));
  for (const s of samples) {
    for (const max of [0, 1, 16, 64, 200]) {
      assert.equal(boundedText(s, max), oldBounded(s, max), JSON.stringify(s).slice(0, 80));
      assert.equal(isPlainText(s, max), oldPlain(s, max), JSON.stringify(s).slice(0, 80));
    }
    assert.equal(boundedText(s), oldBounded(s));
  }
});
