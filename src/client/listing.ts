/**
 * What `shomei list` shows: each stored certificate with its status, and which one is
 * current for each user ID (the valid one that expires last). Pure: the clock comes in.
 *
 * Status, first that applies:
 *   revoked     the caller knows it was revoked (OCSP/CRL; nothing offline can know it)
 *   expired     past its notAfter
 *   superseded  not expired, but another valid certificate of the same user ID expires later
 *   expiring    the current one, within EXPIRING_DAYS of its notAfter
 *   valid       the current one
 */
import { readCertificate } from "../pki/certificate.js";
import type { StoredCertificate } from "./store.js";

const DAY_MS = 86_400_000;

/** A certificate within this many days of its notAfter is "expiring". */
export const EXPIRING_DAYS = 30;

export type CertificateStatus = "valid" | "expiring" | "expired" | "superseded" | "revoked";

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
  readonly chainPath: string;
}

export interface DescribeOptions {
  /**
   * SHA-256 fingerprints (AB:CD:…) of certificates known to be revoked. Only a caller that
   * asked the CA (OCSP, CRL) can know; without it no certificate is shown as revoked.
   */
  readonly revoked?: ReadonlySet<string>;
}

/** The status of a certificate by its dates alone at `now`: valid, expiring or expired. */
export function statusAt(notAfter: Date, now: Date): "valid" | "expiring" | "expired" {
  const left = notAfter.getTime() - now.getTime();
  if (left < 0) return "expired";
  return left <= EXPIRING_DAYS * DAY_MS ? "expiring" : "valid";
}

type MutableRow = { -readonly [K in keyof CertificateRow]: CertificateRow[K] };

/** Newest expiry first; then newest notBefore; then serial, so the order never depends on the folder. */
function newestFirst(a: CertificateRow, b: CertificateRow): number {
  return b.notAfter.getTime() - a.notAfter.getTime() || b.notBefore.getTime() - a.notBefore.getTime() || (a.serial < b.serial ? -1 : a.serial > b.serial ? 1 : 0);
}

/**
 * Rows for every certificate, sorted by user ID then newest expiry first, with `current`
 * marked (per user ID, the newest that is neither expired nor revoked) and the others that
 * are still within their validity marked `superseded`.
 */
export function describeCertificates(certs: readonly StoredCertificate[], now: Date, opts: DescribeOptions = {}): CertificateRow[] {
  const rows: MutableRow[] = certs.map((c) => {
    const info = readCertificate(c.certDer);
    return {
      userId: c.userId,
      serial: info.serialHex,
      subject: info.subject,
      issuer: info.issuer,
      notBefore: info.notBefore,
      notAfter: info.notAfter,
      daysLeft: Math.floor((info.notAfter.getTime() - now.getTime()) / DAY_MS),
      status: opts.revoked?.has(info.fingerprint) === true ? "revoked" : statusAt(info.notAfter, now),
      current: false,
      fingerprint: info.fingerprint,
      ...(c.server === undefined ? {} : { server: c.server }),
      certPath: c.location.cert,
      keyPath: c.location.key,
      chainPath: c.location.chain,
    };
  });
  rows.sort((a, b) => (a.userId === b.userId ? newestFirst(a, b) : a.userId < b.userId ? -1 : 1));
  const seen = new Set<string>();
  for (const r of rows) {
    if (r.status === "expired" || r.status === "revoked") continue;
    if (seen.has(r.userId)) {
      r.status = "superseded";
    } else {
      r.current = true;
      seen.add(r.userId);
    }
  }
  return rows;
}
