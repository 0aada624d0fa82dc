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
 */
import { ShomeiError } from "../i18n/errors.js";

export interface FailureLimit {
  /** Failures allowed per address per window. */
  readonly max: number;
  readonly windowMs: number;
}

/** What the limiter needs from storage. store/ implements it. */
export interface AddressFailureStore {
  /**
   * Reserves one attempt for `address`: granted (and counted as pending) unless the address's
   * current window has `max` failures and pending attempts together. A window that began
   * `windowMs` or longer before `now` is over: a new one begins at `now`, and windows over
   * are deleted. Returns when the address's window began.
   */
  reserveAddressAttempt(address: string, max: number, now: Date, windowMs: number): Promise<{ granted: boolean; windowStart: Date }>;
  /** Settles a reservation: a failure is counted in the window, anything else only ends the reservation. */
  settleAddressAttempt(address: string, failed: boolean): Promise<void>;
}

/** A reserved attempt: settle it exactly once, as a failure or not. */
export interface AddressAttempt {
  failed(): Promise<void>;
  release(): Promise<void>;
}

export class FailureLimiter {
  constructor(
    private readonly store: AddressFailureStore,
    readonly limit: FailureLimit,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Reserves an attempt for the address, or throws TOO_MANY_ATTEMPTS (with the minutes left in its window). */
  async reserve(address: string): Promise<AddressAttempt> {
    const now = this.now();
    const r = await this.store.reserveAddressAttempt(address, this.limit.max, now, this.limit.windowMs);
    if (!r.granted) {
      const minutes = Math.max(1, Math.ceil((r.windowStart.getTime() + this.limit.windowMs - now.getTime()) / 60_000));
      throw new ShomeiError("TOO_MANY_ATTEMPTS", { minutes });
    }
    let open = true;
    const settle = async (failed: boolean): Promise<void> => {
      if (!open) return;
      open = false;
      await this.store.settleAddressAttempt(address, failed);
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
