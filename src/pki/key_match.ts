/** Does a key belong to a certificate? Compares SubjectPublicKeyInfo after normalising both. */
import { createPublicKey, type KeyObject } from "node:crypto";
import { certificateSpki } from "./certificate.js";
import { spkiDer } from "./keys.js";
import { checkSpki } from "./spki.js";

/**
 * Re-encodes an SPKI through node:crypto, so equal keys compare equal whatever their encoding;
 * undefined for a key that checkSpki refuses (node:crypto never sees it).
 */
function canonicalSpki(spki: Uint8Array): Buffer | undefined {
  try {
    checkSpki(spki);
    return createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }).export({ format: "der", type: "spki" });
  } catch {
    return undefined;
  }
}

/** True when both SubjectPublicKeyInfo DERs hold the same public key. */
export function sameSpki(a: Uint8Array, b: Uint8Array): boolean {
  const ca = canonicalSpki(a);
  const cb = canonicalSpki(b);
  return ca !== undefined && cb !== undefined && ca.equals(cb);
}

/** True when the certificate certifies the public half of `key` (a private or public key). */
export function keyMatchesCertificate(key: KeyObject, certDer: Uint8Array): boolean {
  let certSpki: Buffer;
  try {
    certSpki = certificateSpki(certDer);
  } catch {
    return false;
  }
  return sameSpki(spkiDer(key), certSpki);
}
