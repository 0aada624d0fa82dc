/** The certificate a command works with: the current one (valid, latest expiry) of one user ID. */
import { ShomeiError } from "../i18n/errors.js";
import { formatTime } from "../i18n/format.js";
import { describeCertificates, type CertificateRow } from "./listing.js";
import type { CertificateStore, StoredCertificate } from "./store.js";

export interface Current {
  readonly row: CertificateRow;
  readonly cert: StoredCertificate;
}

/**
 * The current certificate of `userId` (or of the only user ID in the store). USER_AMBIGUOUS when several
 * user IDs qualify, CERT_EXPIRED when the user's certificates have all expired,
 * NO_CERTIFICATE_IN_STORE when there is none.
 */
export async function currentCertificate(store: CertificateStore, userId: string | undefined, now: Date): Promise<Current> {
  const stored = await store.listCertificates();
  const rows = describeCertificates(stored, now).filter((r) => userId === undefined || r.userId === userId);
  const current = rows.filter((r) => r.current);
  const users = [...new Set(current.map((r) => r.userId))];
  if (users.length > 1) throw new ShomeiError("USER_AMBIGUOUS", { userIds: users.join(", "), example: users[users.length - 1] ?? "" });
  const row = current[0];
  if (!row) {
    const newest = [...rows].sort((a, b) => b.notAfter.getTime() - a.notAfter.getTime())[0];
    if (newest && newest.status === "expired") throw new ShomeiError("CERT_EXPIRED", { notAfter: formatTime(newest.notAfter) });
    throw new ShomeiError("NO_CERTIFICATE_IN_STORE", { store: store.location, userId: userId ?? "-" });
  }
  const cert = stored.find((c) => c.location.cert === row.certPath);
  if (!cert) throw new ShomeiError("NO_CERTIFICATE_IN_STORE", { store: store.location, userId: row.userId });
  return { row, cert };
}
