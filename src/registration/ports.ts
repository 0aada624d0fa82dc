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
  /**
   * The event names something that is new each time (the serial of a certificate just
   * issued), so no other event can be identical to it: it is written as a row of its own,
   * without the repeat key that folds identical events. The rows read back the same; the
   * store skips the key's hash and its unique-index entry, a random B-tree leaf written per
   * event (two per enrollment, docs/benchmarks.md).
   */
  readonly once?: true;
}

export interface AuditRecord extends AuditEvent {
  readonly id: number;
  /** How many identical events (same event, actor, user, outcome, detail) this record stands for. */
  readonly count: number;
  /** When the last of them happened (`at` is the first). */
  readonly lastAt: Date;
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
  /**
   * Inserts the user with their first passcode, audit events and queued mails in one transaction;
   * USER_EXISTS if taken. Returns the queue sequence numbers of the mails, in order.
   */
  registerUser(user: UserRecord, passcode: PasscodeRecord, audit: readonly AuditEvent[], mails?: readonly NewMail[]): Promise<number[]>;
  getUser(userId: string): Promise<UserRecord | undefined>;
  listUsers(opts?: { limit?: number; offset?: number }): Promise<UserRecord[]>;
  /** Replaces the user's passcode (voiding any earlier one), records the audit events and queues the mails. */
  replacePasscode(passcode: PasscodeRecord, audit: readonly AuditEvent[], mails?: readonly NewMail[]): Promise<number[]>;
  /**
   * Sets a new password (hash, initial flag and expiry). A new initial password (an operator's
   * reset) also clears a login lock and ends the user's sessions.
   */
  setPassword(
    userId: string, hash: string, initial: boolean, setAt: Date, expiresAt: Date | null, audit: readonly AuditEvent[], mails?: readonly NewMail[],
  ): Promise<number[]>;
  getPasscode(userId: string): Promise<PasscodeRecord | undefined>;
  /** The user and their passcode in one read (enrollment): the same answers as getUser and getPasscode. */
  getUserWithPasscode(userId: string): Promise<{ user: UserRecord | undefined; passcode: PasscodeRecord | undefined }>;
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

/** An e-mail as the domain writes it (the transport formats it). */
export interface MailMessage {
  readonly to: string;
  readonly from: string;
  readonly subject: string;
  /** Plain text, lines separated by \n. */
  readonly text: string;
  readonly date: Date;
}

/** An e-mail formatted as RFC 5322 bytes, with its SMTP envelope. */
export interface OutgoingMail {
  /** Envelope sender and recipient: bare addresses. */
  readonly from: string;
  readonly to: string;
  readonly raw: Buffer;
  readonly date: Date;
  /** The mail's place in the queue (its sequence number): mails made in the same millisecond keep their order. */
  readonly seq: number;
}

/**
 * Delivers one formatted mail: the outbox folder or an SMTP server. Returns where it went (a
 * path or a server's answer). Throws ShomeiError MAIL_REJECTED when the server refused the
 * message or recipient for good (SMTP 5xx), anything else (MAIL_FAILED…) when a retry may work.
 */
export interface MailTransport {
  send(mail: OutgoingMail): Promise<string>;
}

/** A mail to put in the queue: its body already formatted and sealed (encrypted). */
export interface NewMail {
  /** `passcode`, `initial-password`, `reminder-certificate`, `reminder-password`. */
  readonly kind: string;
  readonly userId: string | null;
  readonly recipient: string;
  readonly subject: string;
  readonly body: Buffer;
  readonly createdAt: Date;
}

export type MailStatus = "pending" | "sent" | "failed";

export interface QueuedMail {
  readonly seq: number;
  readonly createdAt: Date;
  readonly kind: string;
  readonly userId: string | null;
  readonly recipient: string;
  readonly subject: string;
  /** Sealed RFC 5322 bytes; null once sent. */
  readonly body: Buffer | null;
  readonly status: MailStatus;
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly leaseUntil: Date | null;
  readonly lastError: string | null;
  readonly sentAt: Date | null;
}

export interface MailQueueSummary {
  readonly counts: Readonly<Record<MailStatus, number>>;
  readonly oldestPending: Date | null;
  readonly nextAttempt: Date | null;
  /** Pending and failed mails, oldest first (bodies not included). */
  readonly open: readonly Omit<QueuedMail, "body">[];
}

/** The mail queue's storage: claims are compare-and-swap, so two workers never hold one mail. */
export interface MailQueueStore {
  /** Queues mails (with their audit events) in one transaction. */
  enqueueMails(mails: readonly NewMail[], audit: readonly AuditEvent[]): Promise<number[]>;
  /**
   * Claims pending mails due at `now` whose lease is free (all due ones, or only `seqs`), up to
   * `limit`, leasing each until `leaseUntil`. A mail another worker holds is skipped.
   */
  claimMails(now: Date, leaseUntil: Date, limit: number, seqs?: readonly number[]): Promise<QueuedMail[]>;
  /** Delivered: body dropped, sent_at set, lease released. */
  markMailSent(seq: number, now: Date, audit: readonly AuditEvent[]): Promise<void>;
  /** A failed attempt: attempts + 1, and either a next attempt or (nextAttemptAt null) failed for good. */
  markMailAttemptFailed(seq: number, error: string, nextAttemptAt: Date | null, audit: readonly AuditEvent[]): Promise<void>;
  /** Puts a failed mail back in the queue (due now, attempts reset). False when no failed mail has that number. */
  requeueMail(seq: number, now: Date, audit: readonly AuditEvent[]): Promise<boolean>;
  mailQueueSummary(limit?: number): Promise<MailQueueSummary>;
  getQueuedMail(seq: number): Promise<QueuedMail | undefined>;
}

/** What a caller learns about one mail it queued and tried to deliver at once. */
export interface DeliveryOutcome {
  readonly seq: number;
  readonly kind: string;
  /** Where it went, when delivered now. */
  readonly delivered?: string;
  /** Why not, when it stays queued (or failed for good). */
  readonly error?: string;
  readonly status: MailStatus;
  /** The server could not be reached or used (not just this mail refused): others would fail too. */
  readonly serverFailure?: boolean;
}

/** Sending registration mails: sealed for the queue before commit, delivered right after it. */
export interface MailQueuePort {
  /** Formats and seals a message for the queue (no I/O). */
  prepare(kind: string, userId: string | null, message: MailMessage): NewMail;
  /** Tries to deliver these queued mails now. Never throws for a failed delivery: it stays queued. */
  deliverNow(seqs: readonly number[], actor: string): Promise<DeliveryOutcome[]>;
}
