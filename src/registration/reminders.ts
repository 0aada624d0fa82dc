/**
 * Reminders, run by the worker every reminders.checkMinutes: (a) a certificate that expires
 * within one of the configured thresholds (30 and 10 days by default) and is its user's newest
 * valid one; (b) an initial password still unused that expires within initialPasswordDays.
 * Each reminder is sent once: its key is inserted with the queued mail in one transaction, so
 * two instances running the job at once queue one mail. Only the nearest threshold reached is
 * mailed: a certificate first seen 9 days before expiry gets the 10-day mail, not both.
 */
import type { CertificateRecord } from "../ca/ports.js";
import type { Lang } from "../i18n/errors.js";
import type { MailContext } from "./mail_content.js";
import { certificateReminderMail, initialPasswordReminderMail } from "./mail_content.js";
import type { AuditEvent, MailQueuePort, NewMail, UserRecord } from "./ports.js";

const DAY = 86_400_000;

export interface CertificateReminderCandidate {
  readonly certificate: CertificateRecord;
  readonly user: { readonly userId: string; readonly email: string; readonly name: string; readonly lang: Lang };
}

export type PasswordReminderCandidate = UserRecord;

export interface ReminderStore {
  /** Valid client certificates of active users expiring in (now, until], each its user's newest. */
  certificateReminderCandidates(now: Date, until: Date): Promise<CertificateReminderCandidate[]>;
  /** Active users whose initial password is unused and expires in (now, until]. */
  passwordReminderCandidates(now: Date, until: Date): Promise<PasswordReminderCandidate[]>;
  /** Queues the mail unless `key` was recorded before; returns its sequence number, or undefined. */
  enqueueReminder(key: string, mail: NewMail, audit: readonly AuditEvent[]): Promise<number | undefined>;
}

export interface ReminderPolicy {
  readonly certificateDays: readonly number[];
  readonly initialPasswordDays: readonly number[];
  readonly mailFrom: string;
}

export interface ReminderDeps {
  readonly store: ReminderStore;
  readonly mail: Pick<MailQueuePort, "prepare">;
  readonly clock: () => Date;
  readonly policy: ReminderPolicy;
  readonly mailContext: MailContext;
}

/** The nearest threshold reached: the smallest of `days` not below the days left; undefined if none. */
export function thresholdFor(msLeft: number, days: readonly number[]): number | undefined {
  const reached = days.filter((d) => msLeft <= d * DAY);
  return reached.length ? Math.min(...reached) : undefined;
}

export class ReminderService {
  constructor(private readonly d: ReminderDeps) {}

  /** One pass: queues the reminders that are due now. Returns the queued mails' sequence numbers. */
  async run(): Promise<number[]> {
    const now = this.d.clock();
    const queued: number[] = [];
    const { certificateDays, initialPasswordDays } = this.d.policy;
    if (certificateDays.length) {
      const until = new Date(now.getTime() + Math.max(...certificateDays) * DAY);
      for (const { certificate: c, user } of await this.d.store.certificateReminderCandidates(now, until)) {
        const threshold = thresholdFor(c.notAfter.getTime() - now.getTime(), certificateDays);
        if (threshold === undefined) continue;
        const daysLeft = Math.ceil((c.notAfter.getTime() - now.getTime()) / DAY);
        const text = certificateReminderMail(this.d.mailContext, user, c.notAfter, daysLeft);
        const seq = await this.enqueue(`certificate:${c.serial}:${threshold}`, "reminder-certificate", user, text, now,
          { serial: c.serial, threshold, notAfter: c.notAfter.toISOString() });
        if (seq !== undefined) queued.push(seq);
      }
    }
    if (initialPasswordDays.length) {
      const until = new Date(now.getTime() + Math.max(...initialPasswordDays) * DAY);
      for (const u of await this.d.store.passwordReminderCandidates(now, until)) {
        if (!u.passwordExpiresAt) continue;
        const threshold = thresholdFor(u.passwordExpiresAt.getTime() - now.getTime(), initialPasswordDays);
        if (threshold === undefined) continue;
        const daysLeft = Math.ceil((u.passwordExpiresAt.getTime() - now.getTime()) / DAY);
        const text = initialPasswordReminderMail(this.d.mailContext, u, u.passwordExpiresAt, daysLeft);
        // Keyed by when the password was set: a reset password gets reminders of its own.
        const key = `initial-password:${u.userId}:${u.passwordSetAt?.toISOString() ?? "-"}:${threshold}`;
        const seq = await this.enqueue(key, "reminder-password", u, text, now, { threshold, expiresAt: u.passwordExpiresAt.toISOString() });
        if (seq !== undefined) queued.push(seq);
      }
    }
    return queued;
  }

  private enqueue(
    key: string, kind: string, user: { userId: string; email: string }, text: { subject: string; text: string }, now: Date,
    detail: Record<string, string | number>,
  ): Promise<number | undefined> {
    const mail = this.d.mail.prepare(kind, user.userId, { to: user.email, from: this.d.policy.mailFrom, subject: text.subject, text: text.text, date: now });
    return this.d.store.enqueueReminder(key, mail, [
      { at: now, actor: "system", event: "reminder.queue", userId: user.userId, outcome: "success", detail: { kind, ...detail } },
    ]);
  }
}
