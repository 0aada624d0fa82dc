/**
 * The registration desk: registers users (one passcode e-mail, one initial-password e-mail),
 * reissues passcodes, and answers who is registered. Every step is audited.
 */
import type { Lang } from "../i18n/errors.js";
import { ShomeiError } from "../i18n/errors.js";
import type { MailContext } from "./mail_content.js";
import { initialPasswordMail, passcodeMail } from "./mail_content.js";
import { generatePasscode, passcodeHash } from "./passcode.js";
import { generateInitialPassword, hashPassword } from "./password.js";
import type { DeliveryOutcome, MailQueuePort, NewMail, PasscodeRecord, RegistrationStore, UserRecord, UserRole } from "./ports.js";

const DAY = 86_400_000;

export interface RegistrationPolicy {
  /** Anchored regular expression source for user IDs; default `^a[0-9]{7}$`. */
  readonly userIdPattern: string;
  readonly passcodeLifetimeDays: number;
  readonly initialPasswordLifetimeDays: number;
  readonly defaultOrganization: string;
  readonly mailFrom: string;
}

export interface NewUserInput {
  readonly userId: string;
  readonly email: string;
  readonly name: string;
  readonly organization?: string;
  readonly lang?: Lang;
  readonly role?: UserRole;
}

export interface RegistrationResult {
  readonly user: UserRecord;
  readonly passcodeExpiresAt: Date;
  readonly passwordExpiresAt: Date;
  /** Where each e-mail delivered at once went (outbox file paths, or the SMTP server's answer). */
  readonly delivered: readonly string[];
  /** Each e-mail: delivered, or still queued (retried by the worker) with the reason. */
  readonly mails: readonly DeliveryOutcome[];
}

/** A reissued passcode or reset password: its expiry and what became of its e-mail. */
export interface ResendResult {
  readonly expiresAt: Date;
  readonly mail: DeliveryOutcome;
}

export interface RegistrationDeps {
  readonly store: RegistrationStore;
  /** Mails are queued in the transaction that causes them, then delivered at once when possible. */
  readonly mail: MailQueuePort;
  readonly secret: Uint8Array;
  readonly clock: () => Date;
  readonly policy: RegistrationPolicy;
  readonly mailContext: MailContext;
}

const EMAIL_RE = /^[^\s@<>()"',;:\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

function checkText(field: string, value: string, max: number, required: boolean): string {
  const v = value.normalize("NFC").trim();
  if (required && v === "") throw new ShomeiError("INPUT_REQUIRED", { what: field });
  if (v.length > max) throw new ShomeiError("FIELD_INVALID", { field, reason: `> ${max}` });
  if (CONTROL_RE.test(v)) throw new ShomeiError("FIELD_INVALID", { field, reason: "control character" });
  return v;
}

export class RegistrationService {
  private readonly userIdRe: RegExp;

  constructor(private readonly d: RegistrationDeps) {
    this.userIdRe = new RegExp(d.policy.userIdPattern);
  }

  /** Checks a user ID against the configured pattern. */
  checkUserId(userId: string): string {
    if (!this.userIdRe.test(userId)) throw new ShomeiError("USER_ID_INVALID", { userId, pattern: this.d.policy.userIdPattern });
    return userId;
  }

  /** Validates every field before anything is written. */
  validate(input: NewUserInput): Required<NewUserInput> {
    const userId = this.checkUserId(input.userId.trim());
    const email = input.email.trim();
    if (email.length > 254 || !EMAIL_RE.test(email)) throw new ShomeiError("EMAIL_INVALID", { email });
    return {
      userId,
      email,
      name: checkText("name", input.name, 100, true),
      organization: checkText("organization", input.organization ?? this.d.policy.defaultOrganization, 200, true),
      lang: input.lang ?? "ja",
      role: input.role ?? "user",
    };
  }

  /** Registers a user and sends the passcode and initial-password e-mails. */
  async addUser(input: NewUserInput, actor: string): Promise<RegistrationResult> {
    const v = this.validate(input);
    const now = this.d.clock();
    const passcode = generatePasscode();
    const password = generateInitialPassword();
    const passcodeExpiresAt = new Date(now.getTime() + this.d.policy.passcodeLifetimeDays * DAY);
    const passwordExpiresAt = new Date(now.getTime() + this.d.policy.initialPasswordLifetimeDays * DAY);
    const user: UserRecord = {
      ...v, status: "active", passwordHash: await hashPassword(password), passwordInitial: true,
      passwordSetAt: now, passwordExpiresAt, createdAt: now, failedLogins: 0, lockedAt: null, lastLoginAt: null,
    };
    const record = this.passcodeRecord(v.userId, passcode, now, passcodeExpiresAt);
    const mails = [
      this.prepare(user, passcodeMail(this.d.mailContext, user, passcode, passcodeExpiresAt), "passcode", now),
      this.prepare(user, initialPasswordMail(this.d.mailContext, user, password, passwordExpiresAt, this.d.policy.initialPasswordLifetimeDays), "initial-password", now),
    ];
    const seqs = await this.d.store.registerUser(user, record, [
      { at: now, actor, event: "user.register", userId: v.userId, outcome: "success", detail: { email: v.email, role: v.role, lang: v.lang } },
      { at: now, actor, event: "passcode.issue", userId: v.userId, outcome: "success", detail: { expiresAt: passcodeExpiresAt.toISOString() } },
      { at: now, actor, event: "password.initial", userId: v.userId, outcome: "success", detail: { expiresAt: passwordExpiresAt.toISOString() } },
    ], mails);
    const outcomes = await this.d.mail.deliverNow(seqs, actor);
    return { user, passcodeExpiresAt, passwordExpiresAt, mails: outcomes, delivered: outcomes.flatMap((o) => (o.delivered ? [o.delivered] : [])) };
  }

  /** Issues a new passcode (the old one stops working) and mails it. */
  async reissuePasscode(userId: string, actor: string): Promise<ResendResult> {
    const user = await this.d.store.getUser(userId);
    if (!user) throw new ShomeiError("USER_NOT_FOUND", { userId });
    const now = this.d.clock();
    const passcode = generatePasscode();
    const expiresAt = new Date(now.getTime() + this.d.policy.passcodeLifetimeDays * DAY);
    const mail = this.prepare(user, passcodeMail(this.d.mailContext, user, passcode, expiresAt), "passcode", now);
    const seqs = await this.d.store.replacePasscode(this.passcodeRecord(userId, passcode, now, expiresAt), [
      { at: now, actor, event: "passcode.reissue", userId, outcome: "success", detail: { expiresAt: expiresAt.toISOString() } },
    ], [mail]);
    return { expiresAt, mail: await this.deliverOne(seqs, actor) };
  }

  /** Sets a new initial password (the old one stops working, a lock lifts) and mails it. */
  async resetPassword(userId: string, actor: string): Promise<ResendResult> {
    const user = await this.d.store.getUser(userId);
    if (!user) throw new ShomeiError("USER_NOT_FOUND", { userId });
    const now = this.d.clock();
    const password = generateInitialPassword();
    const expiresAt = new Date(now.getTime() + this.d.policy.initialPasswordLifetimeDays * DAY);
    const text = initialPasswordMail(this.d.mailContext, user, password, expiresAt, this.d.policy.initialPasswordLifetimeDays);
    const seqs = await this.d.store.setPassword(userId, await hashPassword(password), true, now, expiresAt, [
      { at: now, actor, event: "password.reset", userId, outcome: "success", detail: { expiresAt: expiresAt.toISOString() } },
    ], [this.prepare(user, text, "initial-password", now)]);
    return { expiresAt, mail: await this.deliverOne(seqs, actor) };
  }

  getUser(userId: string): Promise<UserRecord | undefined> {
    return this.d.store.getUser(userId);
  }

  private passcodeRecord(userId: string, passcode: string, now: Date, expiresAt: Date): PasscodeRecord {
    return {
      userId, hash: passcodeHash(this.d.secret, userId, passcode), issuedAt: now, expiresAt, failedAttempts: 0,
      status: "active", usedAt: null, csrHash: null, certificateSerial: null,
    };
  }

  private prepare(user: UserRecord, m: { subject: string; text: string }, kind: string, now: Date): NewMail {
    return this.d.mail.prepare(kind, user.userId, { to: user.email, from: this.d.policy.mailFrom, subject: m.subject, text: m.text, date: now });
  }

  private async deliverOne(seqs: readonly number[], actor: string): Promise<DeliveryOutcome> {
    const [o] = await this.d.mail.deliverNow(seqs, actor);
    if (!o) throw new ShomeiError("INTERNAL");
    return o;
  }
}
