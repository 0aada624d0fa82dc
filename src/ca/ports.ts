/** What the CA needs from storage. store/ implements it; nothing here knows SQL. */

export type CertificateStatus = "valid" | "revoked";
export type CertificateKind = "client" | "server";

/** A certificate the CA issued, as recorded. */
export interface CertificateRecord {
  /** Lowercase hex, no leading zero byte. */
  readonly serial: string;
  readonly userId: string | null;
  readonly kind: CertificateKind;
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly fingerprint: string;
  readonly der: Buffer;
  readonly status: CertificateStatus;
  /** SHA-256 (hex) of the CSR it was issued for: recognises a retry of the same request. */
  readonly csrHash: string | null;
  readonly createdAt: Date;
  readonly revokedAt?: Date | null;
  /** RFC 5280 CRLReason name (keyCompromise, superseded, …) once revoked. */
  readonly revocationReason?: string | null;
}

/**
 * A certificate on record without its DER: what a reader that found it by the DER's SHA-256
 * (the fingerprint) needs, since it holds the bytes already (the portal's every request).
 */
export type CertificateRow = Omit<CertificateRecord, "der">;

/** What a list of a user's certificates shows (the portal's own page): no DER, no CSR hash. */
export type CertificateListEntry = Pick<CertificateRecord, "serial" | "notBefore" | "notAfter" | "status" | "revocationReason">;

export interface CertificateRepository {
  getCertificate(serial: string): Promise<CertificateRecord | undefined>;
  /** A user's certificates, newest first. */
  listCertificates(userId: string): Promise<CertificateRecord[]>;
  /** Certificates expiring in [from, to), for reminders. */
  listExpiring(from: Date, to: Date): Promise<CertificateRecord[]>;
}
