/**
 * The mail queue's logic: mails are queued (sealed) in the transaction that caused them, then
 * delivered — at once by the caller, later by the worker. Each delivery first claims the mail
 * with a lease (compare-and-swap in the store), so two workers never send one mail; a crash
 * mid-send leaves the lease to expire and the mail to be retried. A permanent refusal or the
 * last allowed attempt marks it failed; any other failure schedules a retry with exponential
 * backoff and jitter. Every outcome is audited.
 */
import { ShomeiError } from "../i18n/errors.js";
import type {
  AuditEvent, DeliveryOutcome, MailMessage, MailQueuePort, MailQueueStore, MailTransport, NewMail, QueuedMail,
} from "../registration/ports.js";
import { formatMessage } from "./rfc5322.js";
import type { MailSealer } from "./seal.js";

export interface MailQueuePolicy {
  readonly maxAttempts: number;
  readonly retryBaseSeconds: number;
  readonly retryMaxSeconds: number;
  /** How long a claim holds a mail; longer than any send can take. Default 300. */
  readonly leaseSeconds?: number;
}

export interface MailQueueDeps {
  readonly store: MailQueueStore;
  readonly transport: MailTransport;
  readonly sealer: MailSealer;
  readonly clock: () => Date;
  readonly policy: MailQueuePolicy;
  /** 0 ≤ x < 1, for the jitter; Math.random by default. */
  readonly random?: () => number;
  /** Throws when the mail setting cannot work (checked before anything is queued). */
  readonly ready?: () => void;
}

/**
 * After the mail server could not be reached or used, immediate deliveries are not tried for
 * this long (the mails wait for the worker): a registration, or a bulk upload of hundreds,
 * must not wait for a connection timeout per mail.
 */
export const PAUSE_AFTER_SERVER_FAILURE_MS = 60_000;

/** The bare address of `Name <addr>` or `addr` (the SMTP envelope wants only that). */
export function bareAddress(a: string): string {
  return /<([^<>]+)>\s*$/.exec(a)?.[1]?.trim() ?? a.trim();
}

function sealContext(kind: string, recipient: string): string {
  return `${kind}\n${recipient}`;
}

export class MailQueue implements MailQueuePort {
  /** Until when immediate deliveries are not tried, and why (the last server-level failure). */
  private pause: { until: number; reason: string } | undefined;

  constructor(private readonly d: MailQueueDeps) {}

  prepare(kind: string, userId: string | null, message: MailMessage): NewMail {
    this.d.ready?.();
    const raw = Buffer.from(formatMessage(message), "utf8");
    return {
      kind, userId, recipient: message.to, subject: message.subject, createdAt: message.date,
      body: this.d.sealer.seal(raw, sealContext(kind, message.to)),
    };
  }

  /** The delay before attempt `attempts + 1`: base·2^(attempts−1), capped, plus up to 10 % jitter. */
  retryDelayMs(attempts: number): number {
    const { retryBaseSeconds: base, retryMaxSeconds: max } = this.d.policy;
    const seconds = Math.min(max, base * 2 ** Math.max(0, attempts - 1));
    return Math.round(seconds * 1000 * (1 + 0.1 * (this.d.random ?? Math.random)()));
  }

  /**
   * Delivers just-queued mails now, one claim at a time. While the mail server is known to be
   * failing (a server-level failure less than PAUSE_AFTER_SERVER_FAILURE_MS ago) nothing is
   * tried: the mails stay queued, untouched, for the worker.
   */
  async deliverNow(seqs: readonly number[], actor: string): Promise<DeliveryOutcome[]> {
    const outcomes: DeliveryOutcome[] = [];
    for (const seq of seqs) {
      const paused = this.paused();
      const [row] = paused ? [] : await this.claim(1, [seq]);
      if (row) {
        outcomes.push(await this.deliver(row, actor));
        continue;
      }
      // Not tried now (the server failed moments ago), or another worker holds it: it stays queued.
      const m = await this.d.store.getQueuedMail(seq);
      const error = m?.lastError ?? (paused ? `MAIL_FAILED: not tried now, the mail server failed moments ago (${paused})` : undefined);
      outcomes.push({ seq, kind: m?.kind ?? "", status: m?.status ?? "pending", ...(error ? { error } : {}) });
    }
    return outcomes;
  }

  /**
   * What a worker does on each tick: claims due mails one at a time (a claim never outlives a
   * slow send) and delivers them; stops at the first server-level failure, since the others
   * would only wait for the same timeout. The worker always tries at least one.
   */
  async deliverDue(limit = 50, actor = "system"): Promise<DeliveryOutcome[]> {
    const outcomes: DeliveryOutcome[] = [];
    while (outcomes.length < limit) {
      const [row] = await this.claim(1);
      if (!row) break;
      const o = await this.deliver(row, actor);
      outcomes.push(o);
      if (o.serverFailure) break;
    }
    return outcomes;
  }

  /** The reason of the failure that paused immediate deliveries, while the pause lasts. */
  private paused(): string | undefined {
    return this.pause && this.d.clock().getTime() < this.pause.until ? this.pause.reason : undefined;
  }

  private claim(limit: number, seqs?: readonly number[]): Promise<QueuedMail[]> {
    const now = this.d.clock();
    const lease = new Date(now.getTime() + (this.d.policy.leaseSeconds ?? 300) * 1000);
    return this.d.store.claimMails(now, lease, limit, seqs);
  }

  private async deliver(m: QueuedMail, actor: string): Promise<DeliveryOutcome> {
    const attempt = m.attempts + 1;
    const base = { kind: m.kind, seq: m.seq, to: m.recipient, attempt };
    const event = (name: string, outcome: AuditEvent["outcome"], detail: Record<string, string | number | boolean>): AuditEvent =>
      ({ at: this.d.clock(), actor, event: name, userId: m.userId, outcome, detail: { ...base, ...detail } });
    try {
      if (!m.body) throw new ShomeiError("MAIL_BODY_UNREADABLE", { reason: "no body" });
      const raw = this.d.sealer.open(m.body, sealContext(m.kind, m.recipient));
      const from = bareAddress(/^From: (.*)$/m.exec(raw.toString("utf8"))?.[1] ?? "");
      const where = await this.d.transport.send({ from, to: bareAddress(m.recipient), raw, date: m.createdAt, seq: m.seq });
      await this.d.store.markMailSent(m.seq, this.d.clock(), [event("mail.send", "success", {})]);
      this.pause = undefined;
      return { seq: m.seq, kind: m.kind, status: "sent", delivered: where };
    } catch (e) {
      const err = e instanceof ShomeiError ? e : new ShomeiError("MAIL_FAILED", { reason: e instanceof Error ? e.message : String(e) }, { cause: e });
      const reason = typeof err.params.reason === "string" ? err.params.reason : err.text("en");
      const error = `${err.code}: ${reason}`;
      const permanent = err.code !== "MAIL_FAILED";
      // Only a refusal of this very mail ("message") says nothing about the others.
      const serverFailure = !permanent && err.params.scope !== "message";
      if (serverFailure) this.pause = { until: this.d.clock().getTime() + PAUSE_AFTER_SERVER_FAILURE_MS, reason };
      if (permanent || attempt >= this.d.policy.maxAttempts) {
        await this.d.store.markMailAttemptFailed(m.seq, error, null, [event("mail.send", "failure", { reason: error, final: true })]);
        return { seq: m.seq, kind: m.kind, status: "failed", error, ...(serverFailure ? { serverFailure } : {}) };
      }
      const next = new Date(this.d.clock().getTime() + this.retryDelayMs(attempt));
      await this.d.store.markMailAttemptFailed(m.seq, error, next, [event("mail.retry", "failure", { reason: error, nextAttemptAt: next.toISOString() })]);
      return { seq: m.seq, kind: m.kind, status: "pending", error, ...(serverFailure ? { serverFailure } : {}) };
    }
  }
}
