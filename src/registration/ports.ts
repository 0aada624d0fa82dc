/** What registration and enrollment need from storage, mail and the audit log. */
import type { CertificateRecord, CertificateRepository } from "../ca/ports.js";
import type { Lang } from "../i18n/errors.js";

export type UserStatus = "active" | "suspended";
export type UserRole = "user" | "operator";

export interface UserRecord {
  readonly userId: string;
  readonly email: string;
  readonly name: string;
  readonly organization: string;
  readonly lang: Lang;
  readonly role: UserRole;
  readonly status: UserStatus;
  /** argon2id PHC string of the current password. */
  readonly passwordHash: string | null;
  /** True while the password is the initial one from the e-mail (must be changed at first login). */
  readonly passwordInitial: boolean;
  readonly passwordSetAt: Date | null;
  readonly passwordExpiresAt: Date | null;
  readonly createdAt: Date;
  /** Wrong passwords in a row since the last successful login or unlock. */
  readonly failedLogins: number;
  /** Set when failed logins reached the limit; null when not locked. */
  readonly lockedAt: Date | null;
  readonly lastLoginAt: Date | null;
}

export type PasscodeStatus = "active" | "used" | "void";

export interface PasscodeRecord {
  readonly userId: string;
  /** HMAC-SHA-256 (hex) of the normalised passcode under the server secret. */
  readonly hash: string;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  readonly failedAttempts: number;
  readonly status: PasscodeStatus;
  readonly usedAt: Date | null;
  readonly csrHash: string | null;
  readonly certificateSerial: string | null;
}

export interface AuditEvent {
  readonly at: Date;
  /** Who acted: `operator:NAME`, `user:ID`, `system`. */
  readonly actor: string;
  /** Dotted name: `user.register`, `passcode.failure`, `certificate.issue`, … */
  readonly event: string;
  readonly userId: string | null;
  readonly outcome: "success" | "failure";
  readonly detail?: Readonly<Record<string, string | number | boolean | null>>;
}

export interface AuditRecord extends AuditEvent {
  readonly id: number;
}

export interface AuditQuery {
  readonly userId?: string;
  readonly event?: string;
  readonly since?: Date;
  readonly until?: Date;
  readonly limit?: number;
}

/** Outcome of redeeming a passcode for a certificate, decided atomically by the store. */
export type RedeemResult =
  | { readonly outcome: "issued"; readonly certificate: CertificateRecord }
  /** The same CSR was already redeemed with this passcode: here is that certificate. */
  | { readonly outcome: "replay"; readonly certificate: CertificateRecord }
  | { readonly outcome: "rejected" };

export interface RedeemRequest {
  readonly userId: string;
  readonly passcodeHash: string;
  readonly csrHash: string;
  readonly now: Date;
  /** Replays of the same CSR are honoured until this long after first use. */
  readonly replayWindowMs: number;
  readonly certificate: CertificateRecord;
  readonly audit: readonly AuditEvent[];
}

export interface RegistrationStore extends CertificateRepository {
  /** Inserts the user with their first passcode and audit events in one transaction; USER_EXISTS if taken. */
  registerUser(user: UserRecord, passcode: PasscodeRecord, audit: readonly AuditEvent[]): Promise<void>;
  getUser(userId: string): Promise<UserRecord | undefined>;
  listUsers(opts?: { limit?: number; offset?: number }): Promise<UserRecord[]>;
  /** Replaces the user's passcode (voiding any earlier one) and records the audit events. */
  replacePasscode(passcode: PasscodeRecord, audit: readonly AuditEvent[]): Promise<void>;
  /**
   * Sets a new password (hash, initial flag and expiry). A new initial password (an operator's
   * reset) also clears a login lock and ends the user's sessions.
   */
  setPassword(userId: string, hash: string, initial: boolean, setAt: Date, expiresAt: Date | null, audit: readonly AuditEvent[]): Promise<void>;
  getPasscode(userId: string): Promise<PasscodeRecord | undefined>;
  /** Counts a wrong passcode; voids it at `maxAttempts`. Returns the new count and whether it is now void. */
  recordPasscodeFailure(userId: string, maxAttempts: number, audit: readonly AuditEvent[]): Promise<{ attempts: number; voided: boolean }>;
  /**
   * In one transaction: marks the active passcode used and records the certificate, or, when
   * the passcode was already used for the same CSR within the replay window, returns that
   * certificate. Two concurrent redemptions yield exactly one certificate.
   */
  redeemPasscode(req: RedeemRequest): Promise<RedeemResult>;
  /** The user's certificate issued for exactly this CSR (SHA-256 hex), if any: recognises a retried renewal. */
  findCertificateByCsr(userId: string, csrHash: string): Promise<CertificateRecord | undefined>;
  /** Records a certificate issued outside enrollment (the service's TLS certificate, operators). */
  insertCertificate(cert: CertificateRecord, audit: readonly AuditEvent[]): Promise<void>;
  audit(events: readonly AuditEvent[]): Promise<void>;
  queryAudit(q: AuditQuery): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

/** An e-mail, ready for a transport. */
export interface MailMessage {
  readonly to: string;
  readonly from: string;
  readonly subject: string;
  /** Plain text, lines separated by \n. */
  readonly text: string;
  readonly date: Date;
}

/** Delivers mail: the outbox folder now, SMTP later. Returns where it went (a path or an id). */
export interface MailTransport {
  send(message: MailMessage): Promise<string>;
}
