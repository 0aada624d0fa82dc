/** SHA-256 fingerprints in the AB:CD:… form users compare by eye. */
import { createHash } from "node:crypto";
import { ShomeiError } from "../i18n/errors.js";

export function sha256(data: Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}

/** `AB:CD:…` (uppercase, colon separated) of the SHA-256 of the DER. */
export function fingerprint(der: Uint8Array): string {
  return formatFingerprint(sha256(der));
}

export function formatFingerprint(digest: Uint8Array): string {
  return Buffer.from(digest).toString("hex").toUpperCase().match(/../g)!.join(":");
}

/**
 * Accepts what a user may paste: any case, with or without colons, spaces or hyphens.
 * Returns the canonical AB:CD:… form, or throws FINGERPRINT_INVALID.
 */
export function normaliseFingerprint(input: string): string {
  const hex = input.replace(/[\s:-]/g, "").toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) throw new ShomeiError("FINGERPRINT_INVALID", { value: input });
  return hex.match(/../g)!.join(":");
}
