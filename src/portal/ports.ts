/** What the portal (login, sessions, operator actions) needs from storage. store/ implements it. */
import type { CertificateListEntry, CertificateRecord, CertificateRow } from "../ca/ports.js";
import type { AuditEvent, AuditQuery, AuditRecord, RegistrationStore, UserRecord, UserStatus } from "../registration/ports.js";

/** Where a session is: right after login with the initial password only a password change is allowed. */
export type SessionStage = "change-password" | "full";

export interface SessionRecord {
  /** SHA-256 (hex) of the cookie's value: the value itself is never stored. */
  readonly idHash: string;
  readonly userId: string;
  /** The certificate the session was opened with: any other certificate makes it useless. */
  readonly certFingerprint: string;
  readonly stage: SessionStage;
  readonly createdAt: Date;
  readonly lastSeenAt: Date;
}

/** RFC 5280 CRLReason values an operator may choose (removeFromCRL and certificateHold are not offered). */
export const REVOCATION_REASONS = [
  "unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "privilegeWithdrawn",
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

export function isRevocationReason(v: unknown): v is RevocationReason {
  return typeof v === "string" && (REVOCATION_REASONS as readonly string[]).includes(v);
}

/** What reserveLoginAttempt answers: a check may run, or the account is locked, or `max` checks are under way. */
export type LoginReservation = "reserved" | "locked" | "busy";

export interface PortalStore extends RegistrationStore {
  getCertificateByFingerprint(fingerprint: string): Promise<CertificateRecord | undefined>;
  /**
   * The certificate with this fingerprint and its user, in one indexed read (the portal does
   * this on every request): the same answers as getCertificateByFingerprint and getUser, but
   * the certificate without its DER (the caller found it by the DER's SHA-256, so has the bytes).
   */
  getCertificateAndUser(fingerprint: string): Promise<{ cert: CertificateRow; user: UserRecord | undefined } | undefined>;
  /**
   * getCertificateAndUser and getSession(sessionIdHash) in one indexed read (the portal's every
   * request with a session cookie): the same answers as those two. Undefined when no
   * certificate has this fingerprint, whatever the session.
   */
  getCertificateUserAndSession(fingerprint: string, sessionIdHash: string): Promise<{ cert: CertificateRow; user: UserRecord | undefined; session: SessionRecord | undefined } | undefined>;
  /**
   * A user's certificates as the portal's page lists them: listCertificates' rows and order
   * (newest expiry first, then serial) with only the fields of CertificateListEntry.
   */
  listCertificateEntries(userId: string): Promise<CertificateListEntry[]>;
  /**
   * Reserves one password check, in one conditional update: granted only while the account is
   * not locked and its failures plus the checks already under way are below `max`, so parallel
   * requests can never have more than `max` wrong passwords evaluated. A lock older than
   * `autoUnlockBefore` is lifted first (audited as `login.unlock`). Reservations made before
   * `staleBefore` and never settled (a process that died mid-check) no longer count.
   * Every reservation granted is settled by exactly one of recordLoginFailure,
   * recordLoginSuccess or releaseLoginAttempt.
   */
  reserveLoginAttempt(userId: string, max: number, now: Date, o: { staleBefore: Date; autoUnlockBefore?: Date }): Promise<LoginReservation>;
  /**
   * Settles a reservation as a wrong password: counts it; at `max` the account is locked.
   * Returns the count and whether this failure locked it (one failure only ever does).
   * Audit events are written in the same transaction.
   */
  recordLoginFailure(userId: string, max: number, now: Date, audit: readonly AuditEvent[]): Promise<{ failures: number; locked: boolean }>;
  /**
   * Settles a reservation as the right password: clears the failure count and records the
   * login time, only while the account is not locked. False (nothing recorded, the audit
   * events not written) when it is locked: a right password after the lock does not count.
   */
  recordLoginSuccess(userId: string, now: Date, audit: readonly AuditEvent[]): Promise<boolean>;
  /** Settles a reservation without counting anything (the check could not be made or has no bearing on the lock). */
  releaseLoginAttempt(userId: string): Promise<void>;
  /** Clears the lock and the failure count. */
  unlock(userId: string, now: Date, audit: readonly AuditEvent[]): Promise<void>;
  setStatus(userId: string, status: UserStatus, now: Date, audit: readonly AuditEvent[]): Promise<void>;
  /**
   * Replaces the password with one the user chose: the old hash goes to the history (keeping
   * `keep` entries), the initial flag and expiry are cleared.
   */
  changePassword(userId: string, hash: string, now: Date, keep: number, audit: readonly AuditEvent[]): Promise<void>;
  /** Earlier password hashes, newest first. */
  passwordHistory(userId: string, limit: number): Promise<string[]>;
  /** Marks a certificate revoked; REVOKE_NOT_POSSIBLE when unknown or already revoked. */
  revokeCertificate(serial: string, reason: RevocationReason, now: Date, audit: readonly AuditEvent[]): Promise<CertificateRecord>;
  createSession(s: SessionRecord, audit: readonly AuditEvent[]): Promise<void>;
  getSession(idHash: string): Promise<SessionRecord | undefined>;
  touchSession(idHash: string, now: Date): Promise<void>;
  deleteSession(idHash: string, audit: readonly AuditEvent[]): Promise<void>;
  /** Ends every session of a user (suspension, password reset). */
  deleteUserSessions(userId: string): Promise<void>;
  searchUsers(q: { text?: string; limit?: number; offset?: number }): Promise<UserRecord[]>;
  queryAudit(q: AuditQuery): Promise<AuditRecord[]>;
}
