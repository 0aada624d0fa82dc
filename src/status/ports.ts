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
