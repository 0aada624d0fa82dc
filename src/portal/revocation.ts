/** Revoking a certificate: one rule for the console, the admin API and `shomei-ca cert revoke`. */
import type { CertificateRecord } from "../ca/ports.js";
import { ShomeiError } from "../i18n/errors.js";
import type { RegistrationStore } from "../registration/ports.js";
import { isRevocationReason, REVOCATION_REASONS, type PortalStore } from "./ports.js";

/** A serial as operators type it: hex, with or without colons or spaces, any case. */
export function normaliseSerial(serial: string): string {
  const s = serial.replace(/[:\s]/g, "").toLowerCase().replace(/^(?:00)+(?=[0-9a-f])/, "");
  if (!/^[0-9a-f]{1,64}$/.test(s)) throw new ShomeiError("REVOKE_NOT_POSSIBLE", { serial: serial.slice(0, 80), reason: "not a hexadecimal serial number" });
  return s;
}

/** Marks the certificate revoked (RFC 5280 reason) and audits it as `actor`. */
export async function revokeCertificate(
  store: Pick<PortalStore, "revokeCertificate"> & Pick<RegistrationStore, "getCertificate">,
  actor: string, serial: string, reason: string, now: Date,
): Promise<CertificateRecord> {
  if (!isRevocationReason(reason)) throw new ShomeiError("REASON_INVALID", { reason: reason.slice(0, 40), allowed: REVOCATION_REASONS.join(", ") });
  const s = normaliseSerial(serial);
  const cert = await store.getCertificate(s);
  return store.revokeCertificate(s, reason, now, [
    { at: now, actor, event: "certificate.revoke", userId: cert?.userId ?? null, outcome: "success", detail: { serial: s, reason } },
  ]);
}
