/**
 * One-time enrollment passcodes: 16 characters from an alphabet without look-alikes
 * (no 0/O, 1/I/L), about 79 bits, shown as XXXX-XXXX-XXXX-XXXX. Stored only as an HMAC
 * under the server secret: a slow hash would buy nothing for 79 random bits and would cap
 * enrollment at a few dozen per second.
 */
import { createHmac, randomInt, timingSafeEqual } from "node:crypto";
import { normalisePasscode, PASSCODE_ALPHABET, PASSCODE_LENGTH } from "../pki/passcode_format.js";

// The form is shared with the issuance application, which checks it before sending.
export { normalisePasscode, PASSCODE_ALPHABET, PASSCODE_LENGTH };

/** A new random passcode in display form. */
export function generatePasscode(pick: (n: number) => number = randomInt): string {
  let raw = "";
  for (let i = 0; i < PASSCODE_LENGTH; i++) raw += PASSCODE_ALPHABET[pick(PASSCODE_ALPHABET.length)];
  return formatPasscode(raw);
}

export function formatPasscode(raw: string): string {
  return raw.match(/.{1,4}/g)!.join("-");
}

/** HMAC-SHA-256 (hex) of the normalised passcode, bound to the user ID. */
export function passcodeHash(secret: Uint8Array, userId: string, passcode: string): string {
  return createHmac("sha256", secret).update(`${userId}\u0000${normalisePasscode(passcode)}`).digest("hex");
}

/** Constant-time comparison of two hex digests. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
