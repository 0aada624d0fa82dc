/** What revocation status publishing needs from storage (store/ implements it). */
import type { CertificateRecord } from "../ca/ports.js";

/** One revocation, in commit order (seq). */
export interface RevocationEvent {
  readonly seq: number;
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: string;
}

export interface StatusStore {
  getCertificate(serial: string): Promise<CertificateRecord | undefined>;
  /** Revocations with seq > afterSeq, in seq order. */
  listRevocations(afterSeq: number): Promise<readonly RevocationEvent[]>;
}

/** A pre-signed OCSP response as stored: the same answer with a SHA-1 and a SHA-256 CertID. */
export interface StoredOcspResponse {
  readonly serial: string;
  /** The certificate's status the answer gives (certificates.status: valid or revoked). */
  readonly certStatus: "valid" | "revoked";
  /** Complete DER OCSPResponses. */
  readonly sha1: Buffer;
  readonly sha256: Buffer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** When the signer makes a new one (about half-way to nextUpdate). */
  readonly refreshAt: Date;
}

/** A certificate an OCSP response is signed for. */
export interface OcspSubject {
  readonly serial: string;
  readonly status: "valid" | "revoked";
  readonly revokedAt: Date | null;
  readonly reason: string | null;
  readonly notAfter: Date;
  readonly createdAt: Date;
}

/** What pre-signed OCSP needs from storage. */
export interface OcspResponseStore {
  getOcspResponse(serial: string): Promise<StoredOcspResponse | undefined>;
  /**
   * Certificates created at or after `since`, not expired at `now`, whose stored response is
   * missing or gives another status; oldest first.
   */
  ocspMissing(since: Date, now: Date, limit: number): Promise<OcspSubject[]>;
  /** Certificates whose stored response is due (refreshAt ≤ now), the most overdue first. */
  ocspDue(now: Date, limit: number): Promise<OcspSubject[]>;
  /** These certificates (those on record). */
  ocspSubjects(serials: readonly string[]): Promise<OcspSubject[]>;
  /** Stores responses (one transaction); a response saying valid never replaces one saying revoked. */
  putOcspResponses(rows: readonly StoredOcspResponse[]): Promise<void>;
  deleteOcspResponses(serials: readonly string[]): Promise<void>;
  /** The highest revocation sequence number (0 when nothing was ever revoked). */
  lastRevocationSeq(): Promise<number>;
}

/** A signed CRL as stored: one per scope ("full", "shard-N", "arl"). */
export interface StoredCrl {
  readonly scope: string;
  readonly der: Buffer;
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** How many revoked certificates it lists. */
  readonly entries: number;
  /** The highest revocation seq it was built from. */
  readonly maxSeq: number;
  /** The issuingDistributionPoint URL of a shard ("" for the others). */
  readonly url: string;
  /** Which process signed it (lease holder), for diagnostics. */
  readonly signedBy: string;
}

/** What the CRL publisher needs from storage (store/kysely_store.ts). */
export interface CrlStore {
  listRevocations(afterSeq: number, limit?: number): Promise<readonly RevocationEvent[]>;
  revocationsEndingIn(endings: readonly string[] | undefined, afterSeq: number, limit: number): Promise<readonly RevocationEvent[]>;
  countRevocationsEndingIn(endings: readonly string[] | undefined): Promise<number>;
  crlVersions(): Promise<readonly { scope: string; crlNumber: bigint }[]>;
  loadCrl(scope: string): Promise<StoredCrl | undefined>;
  saveCrl(c: StoredCrl, previousNumber: bigint | undefined): Promise<boolean>;
  acquireLease(name: string, holder: string, now: Date, until: Date): Promise<boolean>;
  releaseLease(name: string, holder: string): Promise<void>;
}
