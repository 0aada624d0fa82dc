/**
 * Counts authentication failures per client address in a fixed window. The per-passcode limit
 * (5 tries) protects one passcode; this keeps one address from guessing, or from voiding
 * everyone's passcodes by sending 5 wrong tries for each user ID. In memory, per instance.
 */
export interface FailureLimit {
  /** Failures allowed per address per window. */
  readonly max: number;
  readonly windowMs: number;
}

export class FailureLimiter {
  private readonly counts = new Map<string, { start: number; n: number }>();

  constructor(private readonly limit: FailureLimit, private readonly now: () => number = Date.now) {}

  /** True when the address has used up its failures in the current window. */
  blocked(key: string): boolean {
    const e = this.counts.get(key);
    if (!e) return false;
    if (this.now() - e.start >= this.limit.windowMs) {
      this.counts.delete(key);
      return false;
    }
    return e.n >= this.limit.max;
  }

  fail(key: string): void {
    const t = this.now();
    const e = this.counts.get(key);
    if (!e || t - e.start >= this.limit.windowMs) this.counts.set(key, { start: t, n: 1 });
    else e.n++;
    if (this.counts.size > 100_000) this.prune(t);
  }

  /** Minutes until the window ends (for the message). */
  minutesLeft(key: string): number {
    const e = this.counts.get(key);
    return e ? Math.max(1, Math.ceil((e.start + this.limit.windowMs - this.now()) / 60_000)) : 1;
  }

  private prune(t: number): void {
    for (const [k, e] of this.counts) if (t - e.start >= this.limit.windowMs) this.counts.delete(k);
  }
}
