/**
 * Text a client wrote, made safe to show and store: bounded in length, and every character
 * that could hide or reorder what an operator reads (controls, NUL, bidi and other invisible
 * format characters, lone surrogates) written out visibly as `\uXXXX`. A backslash becomes
 * `\\`, so an escaped character can never be mistaken for one the client typed as text.
 */

/** C0/C1 controls, lone surrogates, bidi controls and marks, zero-width and other invisible format characters. */
const HIDDEN = /[\p{Cc}\p{Cs}\u061C\u180E\u200B-\u200F\u2028-\u202E\u2060-\u206F\uFEFF\\]/u;

function escapeChar(ch: string): string {
  if (ch === "\\") return "\\\\";
  return `\\u${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * Escapes what must not be shown raw and keeps the result within `max` characters; a cut is
 * marked with `…[+N]` (inside the limit), N being how many characters of the original were
 * left out. An escape is never cut in half, nor is a surrogate pair.
 */
export function boundedText(s: string, max = 200): string {
  // Most text needs nothing (one scan of the whole string, no array per character).
  if (s.length <= max && !HIDDEN.test(s)) return s;
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

/** True when the text would be stored as it is (nothing to escape, not too long). */
export function isPlainText(s: string, max: number): boolean {
  return s.length <= max && !HIDDEN.test(s);
}
