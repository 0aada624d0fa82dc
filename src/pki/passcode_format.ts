/**
 * The form of a one-time enrollment passcode, shared by the service (which makes and checks
 * them) and the issuance application (which checks what the user typed before sending it, so
 * that a typing mistake does not use one of the tries). Pure: no secrets, no I/O.
 */

/** 31 characters without look-alikes: no 0/O, 1/I/L. */
export const PASSCODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
export const PASSCODE_LENGTH = 16;

/**
 * What the user typed, as compared: full-width characters folded (NFKC), case ignored,
 * hyphens (any dash) and spaces removed.
 */
export function normalisePasscode(input: string): string {
  return input.normalize("NFKC").toUpperCase().replace(/[\s\-\u2010-\u2015\u2212\u30FC]/g, "");
}

/** Why a typed passcode cannot be right; undefined when its form is fine. */
export interface PasscodeFormatProblem {
  /** Characters after normalisation (16 expected). */
  readonly length: number;
  /** Each character the alphabet never uses, once, in the order typed. */
  readonly badChars: readonly string[];
}

/** Checks the typed passcode's form only (length and alphabet); says nothing of whether it is right. */
export function checkPasscodeFormat(input: string): PasscodeFormatProblem | undefined {
  const chars = [...normalisePasscode(input)];
  const badChars = [...new Set(chars)].filter((c) => !PASSCODE_ALPHABET.includes(c));
  if (chars.length === PASSCODE_LENGTH && badChars.length === 0) return undefined;
  return { length: chars.length, badChars };
}

/** A character named so that look-alikes cannot be confused: "O (letter)", "0 (digit)". */
export function nameChar(c: string, lang: "ja" | "en"): string {
  const shown = /[\p{L}\p{N}\p{P}\p{S}]/u.test(c) ? c : `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
  if (/^[A-Z]$/.test(c)) return lang === "ja" ? `${shown}（英字）` : `${shown} (letter)`;
  if (/^[0-9]$/.test(c)) return lang === "ja" ? `${shown}（数字）` : `${shown} (digit)`;
  return lang === "ja" ? `「${shown}」` : `"${shown}"`;
}
