/**
 * The background worker `shomei-ca serve` runs: every poll it delivers the mails that are due
 * (claimed with a lease, so several instances on one database share the work), and every
 * reminders.checkMinutes (by the injectable clock) it runs the reminder job first.
 */
import { backgroundLang, backgroundLine } from "../i18n/background_messages.js";

export interface MailWorkerDeps {
  readonly queue: { deliverDue(limit?: number): Promise<readonly unknown[]> };
  readonly reminders?: { run(): Promise<unknown> };
  readonly clock: () => Date;
  /** Milliseconds between polls of the queue. */
  readonly pollMs: number;
  /** Milliseconds between reminder runs. */
  readonly reminderEveryMs: number;
  /** Told about a failed tick (the worker carries on); by default a MAIL_TICK_FAILED line on stderr. */
  readonly onError?: (e: unknown) => void;
}

const BATCH = 50;

export class MailWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastReminders: number | undefined;

  constructor(private readonly d: MailWorkerDeps) {}

  /** Starts polling (the first tick runs at once). */
  start(): this {
    this.stopped = false;
    this.schedule(0);
    return this;
  }

  /** Stops polling and waits for a tick under way to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass: reminders when due, then deliveries until nothing due is left. */
  async tick(): Promise<void> {
    const now = this.d.clock().getTime();
    if (this.d.reminders && (this.lastReminders === undefined || now - this.lastReminders >= this.d.reminderEveryMs)) {
      this.lastReminders = now;
      await this.d.reminders.run();
    }
    while (!this.stopped) {
      const done = await this.d.queue.deliverDue(BATCH);
      if (done.length < BATCH) break;
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().catch((e: unknown) => {
        (this.d.onError ?? ((err: unknown) => process.stderr.write(`${backgroundLine("MAIL_TICK_FAILED", err, backgroundLang())}\n`)))(e);
      }).finally(() => {
        this.running = undefined;
        this.schedule(this.d.pollMs);
      });
    }, ms);
    this.timer.unref();
  }
}
