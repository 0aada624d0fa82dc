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
