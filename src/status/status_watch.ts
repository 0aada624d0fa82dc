/**
 * How `serve`'s supervisor learns, within a fraction of a second, that a revocation or a CRL was
 * committed by another process (`shomei-ca cert revoke`, another instance on the same
 * PostgreSQL): a cheap change check every `everyMs` (SQLite: `PRAGMA data_version`, which
 * changes only when another connection committed; then the highest revocation and CRL numbers),
 * plus, on PostgreSQL, LISTEN for the NOTIFY every revocation and stored CRL sends. The full
 * rounds of the CRL publisher and the OCSP pre-signer (every revocation.checkSeconds) stay as
 * the fallback; this only starts them earlier.
 */
import type { BackgroundLog } from "../i18n/background_messages.js";

export interface StatusWatchStore {
  statusChangeMarker(): Promise<string>;
  listenForStatusChanges?(onChange: () => void, lost: (e: unknown) => void): Promise<(() => Promise<void>) | undefined>;
}

export interface StatusWatchOptions {
  readonly store: StatusWatchStore;
  /** Milliseconds between two change checks (default STATUS_CHECK_MS). */
  readonly everyMs?: number;
  /** Something changed: run the rounds now. */
  readonly onChange: () => void;
  readonly log?: BackgroundLog;
}

/** The default time between two change checks: a revocation made elsewhere is noticed within this. */
export const STATUS_CHECK_MS = 250;

export class StatusWatch {
  private last: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private unlisten: (() => Promise<void>) | undefined;
  private failed = false;
  /** Counters for tests and diagnostics: checks made, changes seen, notifications received. */
  readonly stats = { checks: 0, changes: 0, notifications: 0 };

  constructor(private readonly o: StatusWatchOptions) {}

  /** Reads the current marker (what is there now is not a change), then checks every everyMs. */
  async start(): Promise<void> {
    this.last = await this.o.store.statusChangeMarker();
    this.timer = setInterval(() => void this.check(), this.o.everyMs ?? STATUS_CHECK_MS);
    this.timer.unref();
    try {
      this.unlisten = await this.o.store.listenForStatusChanges?.(() => {
        this.stats.notifications++;
        this.changed();
      }, (e) => this.o.log?.("STATUS_NOTIFY_LOST", e));
    } catch (e) {
      // Polling alone still finds every change.
      this.o.log?.("STATUS_NOTIFY_UNAVAILABLE", e);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const u = this.unlisten;
    this.unlisten = undefined;
    await u?.();
  }

  /** One check (a check still under way is not doubled). */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      this.stats.checks++;
      const now = await this.o.store.statusChangeMarker();
      this.failed = false;
      if (now !== this.last) {
        this.last = now;
        this.changed();
      }
    } catch (e) {
      // Reported once per outage, not four times a second.
      if (!this.failed) this.o.log?.("STATUS_CHECK_FAILED", e);
      this.failed = true;
    } finally {
      this.checking = false;
    }
  }

  private changed(): void {
    this.stats.changes++;
    try {
      this.o.onChange();
    } catch (e) {
      this.o.log?.("STATUS_HANDOVER_FAILED", e);
    }
  }
}
