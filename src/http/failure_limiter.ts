/**
 * Counts authentication failures per client address in a window that begins at the address's
 * first failure. The per-passcode limit (5 tries) protects one passcode; this keeps one address
 * from guessing, or from voiding everyone's passcodes by sending 5 wrong tries for each user ID.
 *
 * The counts live in the database (AddressFailureStore), so every listener, process and
 * instance over one database shares them; nothing here is per process. An attempt is reserved
 * before its credentials are evaluated, in one conditional write, and refused with
 * TOO_MANY_ATTEMPTS when the address has `max` failures counted or reserved: however many
 * requests are in flight, no more than `max` failures are evaluated per window.
 *
 * A failure is written at once. An attempt that ends otherwise (most of them: the enrollment
 * worked) is not waited for: its release rides on the address's next reservation from this
 * limiter, in the same write, or is written alone RELEASE_DELAY_MS later when none comes. Until
 * then the database counts it as pending, i.e. more attempts than are in flight, never fewer,
 * so the limit holds as before; an enrollment costs one write to the limiter instead of two.
 * Releases and failures are settled only in the window they were reserved in.
 */
import { ShomeiError } from "../i18n/errors.js";

export interface FailureLimit {
  /** Failures allowed per address per window. */
  readonly max: number;
  readonly windowMs: number;
}

/** Attempts reserved in the window that began at `windowStart` that ended without a failure, not yet written. */
export interface AddressReleases {
  readonly windowStart: Date;
  readonly count: number;
}

/** What the limiter needs from storage. store/ implements it. */
export interface AddressFailureStore {
  /**
   * Reserves one attempt for `address`: granted (and counted as pending) unless the address's
   * current window has `max` failures and pending attempts together. A window that began
   * `windowMs` or longer before `now` is over: a new one begins at `now`, and windows over
   * are deleted. Returns when the address's window began. `released` attempts are taken off
   * the pending count first, in the same write, when their window is still the address's
   * (whether or not this one is granted).
   */
  reserveAddressAttempt(address: string, max: number, now: Date, windowMs: number, released?: AddressReleases): Promise<{ granted: boolean; windowStart: Date }>;
  /**
   * Settles `settled.count` reservations of the window that began at `settled.windowStart`, and
   * only while that window is the address's: `failed` counts one of them as a failure, the rest
   * only end their reservations.
   */
  settleAddressAttempt(address: string, failed: boolean, settled: AddressReleases): Promise<void>;
}

/** A reserved attempt: settle it exactly once, as a failure or not. */
export interface AddressAttempt {
  failed(): Promise<void>;
  release(): Promise<void>;
}

/** How long a release waits for the next reservation from the same address to carry it before it is written alone. */
const RELEASE_DELAY_MS = 20;

/** Releases of one address waiting to be written, and the timer that writes them if no reservation does. */
interface Deferred {
  windowStart: number;
  count: number;
  timer: NodeJS.Timeout | undefined;
}

export class FailureLimiter {
  /**
   * Attempts that ended without a failure and whose release is not written yet, per address.
   * Until written they still count as pending in the database, which only ever counts more
   * attempts than are in flight, never fewer: the limit holds across processes as before.
   */
  private readonly deferred = new Map<string, Deferred>();

  constructor(
    private readonly store: AddressFailureStore,
    readonly limit: FailureLimit,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Takes the address's unwritten releases (the caller writes them or gives them back). */
  private take(address: string): AddressReleases | undefined {
    const d = this.deferred.get(address);
    if (!d) return undefined;
    this.deferred.delete(address);
    clearTimeout(d.timer);
    return { windowStart: new Date(d.windowStart), count: d.count };
  }

  /** Adds releases of a window to the address's unwritten ones (those of an older window are moot: dropped). */
  private defer(address: string, windowStart: number, count: number): void {
    const d = this.deferred.get(address);
    if (d && d.windowStart === windowStart) {
      d.count += count;
      return;
    }
    if (d && d.windowStart > windowStart) return;
    clearTimeout(d?.timer);
    const next: Deferred = { windowStart, count, timer: undefined };
    next.timer = setTimeout(() => void this.flush(address, next), RELEASE_DELAY_MS);
    next.timer.unref();
    this.deferred.set(address, next);
  }

  /** No reservation came to carry them: the releases are written alone. */
  private async flush(address: string, d: Deferred): Promise<void> {
    if (this.deferred.get(address) !== d) return;
    this.deferred.delete(address);
    try {
      await this.store.settleAddressAttempt(address, false, { windowStart: new Date(d.windowStart), count: d.count });
    } catch {
      // The store is closed or failed: the attempts stay counted as pending until their window ends (the safe side).
    }
  }

  /** Writes every release still waiting for its timer: at shutdown, before the store closes, so none is left counted as pending. */
  async flushReleases(): Promise<void> {
    const waiting = [...this.deferred.entries()];
    for (const [, d] of waiting) clearTimeout(d.timer);
    await Promise.all(waiting.map(([address, d]) => this.flush(address, d)));
  }

  /** Reserves an attempt for the address, or throws TOO_MANY_ATTEMPTS (with the minutes left in its window). */
  async reserve(address: string): Promise<AddressAttempt> {
    const now = this.now();
    const released = this.take(address);
    let r: { granted: boolean; windowStart: Date };
    try {
      r = await this.store.reserveAddressAttempt(address, this.limit.max, now, this.limit.windowMs, released);
    } catch (e) {
      if (released) this.defer(address, released.windowStart.getTime(), released.count);
      throw e;
    }
    if (!r.granted) {
      const minutes = Math.max(1, Math.ceil((r.windowStart.getTime() + this.limit.windowMs - now.getTime()) / 60_000));
      throw new ShomeiError("TOO_MANY_ATTEMPTS", { minutes });
    }
    const windowStart = r.windowStart.getTime();
    let open = true;
    const settle = async (failed: boolean): Promise<void> => {
      if (!open) return;
      open = false;
      if (!failed) {
        // Written with the address's next reservation (or alone shortly after): the answer does not wait for it.
        this.defer(address, windowStart, 1);
        return;
      }
      // This window's unwritten releases go with the failure; another window's stay deferred.
      const more = this.take(address);
      const same = more !== undefined && more.windowStart.getTime() === windowStart;
      if (more && !same) this.defer(address, more.windowStart.getTime(), more.count);
      const count = 1 + (same ? more.count : 0);
      try {
        await this.store.settleAddressAttempt(address, true, { windowStart: r.windowStart, count });
      } catch (e) {
        if (count > 1) this.defer(address, windowStart, count - 1);
        throw e;
      }
    };
    return { failed: () => settle(true), release: () => settle(false) };
  }

  /**
   * Runs `attempt` under a reservation for the address: an error for which `isFailure` is true
   * counts as a failure, anything else (success, other errors) only ends the reservation.
   */
  async guard<T>(address: string, isFailure: (e: unknown) => boolean, attempt: () => Promise<T>): Promise<T> {
    const a = await this.reserve(address);
    try {
      const v = await attempt();
      await a.release();
      return v;
    } catch (e) {
      await (isFailure(e) ? a.failed() : a.release());
      throw e;
    }
  }
}
