/**
 * What `shomei list` shows: each stored certificate with its status, and which one is
 * current for each user ID (the valid one that expires last). Pure: the clock comes in.
 */
import { readCertificate } from "../pki/certificate.js";
import type { StoredCertificate } from "./store.js";

const DAY_MS = 86_400_000;

/** A certificate within this many days of its notAfter is "expiring". */
export const EXPIRING_DAYS = 30;

export type CertificateStatus = "valid" | "expiring" | "expired";

export interface CertificateRow {
  readonly userId: string;
  /** Serial number, lowercase hex. */
  readonly serial: string;
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Whole days until notAfter (negative once expired). */
  readonly daysLeft: number;
  readonly status: CertificateStatus;
  /** The certificate to use for this user ID. */
  readonly current: boolean;
  readonly fingerprint: string;
  readonly server?: string;
  readonly certPath: string;
  readonly keyPath: string;
}

/** The status of a certificate at `now`. */
export function statusAt(notAfter: Date, now: Date): CertificateStatus {
  const left = notAfter.getTime() - now.getTime();
  if (left < 0) return "expired";
  return left <= EXPIRING_DAYS * DAY_MS ? "expiring" : "valid";
}

/** Rows for every certificate, sorted by user ID then newest expiry first, with `current` marked. */
export function describeCertificates(certs: readonly StoredCertificate[], now: Date): CertificateRow[] {
  const rows = certs.map((c) => {
    const info = readCertificate(c.certDer);
    return {
      userId: c.userId,
      serial: info.serialHex,
      subject: info.subject,
      issuer: info.issuer,
      notBefore: info.notBefore,
      notAfter: info.notAfter,
      daysLeft: Math.floor((info.notAfter.getTime() - now.getTime()) / DAY_MS),
      status: statusAt(info.notAfter, now),
      current: false,
      fingerprint: info.fingerprint,
      ...(c.server === undefined ? {} : { server: c.server }),
      certPath: c.location.cert,
      keyPath: c.location.key,
    };
  });
  rows.sort((a, b) => (a.userId === b.userId ? b.notAfter.getTime() - a.notAfter.getTime() : a.userId < b.userId ? -1 : 1));
  const seen = new Set<string>();
  for (const r of rows) {
    if (seen.has(r.userId) || r.status === "expired") continue;
    r.current = true;
    seen.add(r.userId);
  }
  return rows;
}
