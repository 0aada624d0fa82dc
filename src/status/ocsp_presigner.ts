/**
 * The OCSP pre-signer (`serve`'s supervisor runs the only one of an instance): keeps a signed
 * answer (RFC 5019 profile) for every certificate in the store, so workers, a restart and
 * other instances serve bytes without signing.
 *
 * Each run, in this order, in batches with pauses so signing takes at most a share of a core:
 * 1. revocations recorded since the last look (by sequence number, with a look-back for
 *    PostgreSQL's out-of-order commits): signed again at once, whoever revoked;
 * 2. certificates without an answer, or whose answer gives another status (new certificates,
 *    by creation time with a look-back of 10 s, and of 120 s once a minute; at start, all of them);
 * 3. answers due (refreshAt, about half-way to nextUpdate, spread a little so a million
 *    answers signed in one go are not all due in the same minute); those of expired
 *    certificates are dropped instead.
 * Revocations are checked between batches too, so a long first run does not delay them.
 * Several instances may sign the same answer: harmless (the last write wins, and an answer
 * saying good never replaces one saying revoked).
 */
import type { OcspResponder } from "./ocsp_responder.js";
import type { OcspResponseStore, OcspSubject, StatusStore, StoredOcspResponse } from "./ports.js";
import { LOOK_BACK } from "./crl_publisher.js";
import type { BackgroundLog } from "../i18n/background_messages.js";

export interface OcspPresignerOptions {
  readonly store: OcspResponseStore & Pick<StatusStore, "listRevocations">;
  readonly responder: Pick<OcspResponder, "presign">;
  readonly clock: () => Date;
  /** nextUpdate − thisUpdate of every answer. */
  readonly validityHours: number;
  /** How often the store is checked for revocations and new certificates. */
  readonly checkSeconds: number;
  /** Certificates signed per batch (default 200). */
  readonly batch?: number;
  /** The share of one core signing may take while there is much to sign (default 0.5). */
  readonly cpuShare?: number;
  /** The serials whose stored answers now give another status or are new (the workers drop what they hold). */
  readonly onChanged?: (serials: readonly string[]) => void;
  /** Progress of a long run (more than one batch), about every 10 seconds and at its end. */
  readonly onProgress?: (p: PresignProgress) => void;
  readonly log?: BackgroundLog;
  /** [0, 1): spreads refresh times (tests pass a fixed one). */
  readonly random?: () => number;
}

export interface PresignProgress {
  /** "missing": certificates without an up-to-date answer; "due": answers refreshed. */
  readonly phase: "missing" | "due";
  readonly signed: number;
  readonly perSecond: number;
  readonly done: boolean;
}

/**
 * New certificates are looked for this far before the previous run's start (a certificate whose
 * commit landed after a later one's: the group commits of this instance's workers) …
 */
const NEW_LOOK_BACK_SHORT_MS = 10_000;
/**
 * … and, once every FULL_LOOK_BACK_EVERY_MS, this far (clocks of other processes and instances).
 * Looking back 120 s at every run (every checkSeconds, 5 s by default) read every certificate of
 * the last two minutes again each time: at 500 enrollments a second, 60,000 rows per run, about
 * a tenth of an EST enrollment's CPU in the supervisor. A certificate no run has signed yet is
 * still answered, signed on request.
 */
const NEW_LOOK_BACK_MS = 120_000;
const FULL_LOOK_BACK_EVERY_MS = 60_000;
const PROGRESS_MS = 10_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class OcspPresigner {
  private lastSeq = 0;
  /** Serials of the revocations seen within the look-back window, by sequence number. */
  private readonly recent = new Map<string, number>();
  private missingSince = new Date(0);
  private lastFullLookBack = -Infinity;
  private lastRevocationCheck = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private nudged = false;
  private stopped = false;
  /** Counters for tests and diagnostics. */
  readonly stats = { signed: 0, runs: 0, dropped: 0 };

  constructor(private readonly o: OcspPresignerOptions) {}

  /**
   * Starts signing in the background (the first run signs what is missing, all of it at the
   * first start) and checks every checkSeconds; resolves once started, not once signed: stored
   * answers are served meanwhile.
   */
  async start(): Promise<void> {
    // Revocations from before this start are covered by the first run's status comparison: those
    // within the look-back are marked seen, or every start would sign them again.
    this.lastSeq = await this.o.store.lastRevocationSeq();
    for (const r of await this.o.store.listRevocations(Math.max(0, this.lastSeq - LOOK_BACK))) this.recent.set(r.serial, r.seq);
    this.timer = setInterval(() => void this.run(), this.o.checkSeconds * 1000);
    this.timer.unref();
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Resolves when the run under way (if any) has finished. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** A revocation happened in this instance: sign it now, not at the next check. */
  nudge(): void {
    this.nudged = true;
    void this.run();
  }

  /** One run (shared by concurrent callers, plus one more if asked meanwhile). */
  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const go = async (): Promise<void> => {
      do {
        this.again = false;
        try {
          await this.once();
        } catch (e) {
          this.o.log?.("OCSP_PRESIGN_FAILED", e);
        }
      } while (this.again && !this.stopped);
    };
    this.running = go().finally(() => { this.running = undefined; });
    return this.running;
  }

  private async once(): Promise<void> {
    this.stats.runs++;
    const started = this.o.clock();
    await this.revocations();
    await this.batches("missing", (limit) => this.o.store.ocspMissing(this.missingSince, this.o.clock(), limit), (last) => {
      this.missingSince = last.createdAt;
    });
    const full = started.getTime() - this.lastFullLookBack >= FULL_LOOK_BACK_EVERY_MS;
    if (full) this.lastFullLookBack = started.getTime();
    this.missingSince = new Date(started.getTime() - (full ? NEW_LOOK_BACK_MS : NEW_LOOK_BACK_SHORT_MS));
    await this.batches("due", (limit) => this.o.store.ocspDue(this.o.clock(), limit));
  }

  /** Signs the revocations recorded since the last look. */
  private async revocations(): Promise<void> {
    this.nudged = false;
    this.lastRevocationCheck = Date.now();
    const rows = await this.o.store.listRevocations(Math.max(0, this.lastSeq - LOOK_BACK));
    const fresh: string[] = [];
    for (const r of rows) {
      if (r.seq > this.lastSeq) this.lastSeq = r.seq;
      if (this.recent.has(r.serial)) continue;
      this.recent.set(r.serial, r.seq);
      fresh.push(r.serial);
    }
    for (const [serial, seq] of this.recent) if (seq < this.lastSeq - LOOK_BACK) this.recent.delete(serial);
    for (let i = 0; i < fresh.length; i += this.batchSize) {
      const serials = fresh.slice(i, i + this.batchSize);
      const subjects = await this.o.store.ocspSubjects(serials);
      await this.o.store.putOcspResponses(await this.sign(subjects));
      // Also when another instance signed them first: this instance's workers may hold the answer saying good.
      this.o.onChanged?.(serials);
    }
  }

  private get batchSize(): number {
    return this.o.batch ?? 200;
  }

  /** Takes batches from `next` until it has fewer than a batch, signing and storing each, within the CPU share. */
  private async batches(phase: PresignProgress["phase"], next: (limit: number) => Promise<OcspSubject[]>, after?: (last: OcspSubject) => void): Promise<void> {
    const share = Math.min(1, Math.max(0.05, this.o.cpuShare ?? 0.5));
    const begun = Date.now();
    let signed = 0;
    let reported = begun;
    for (let n = 0; !this.stopped; n++) {
      const t0 = Date.now();
      const subjects = await next(this.batchSize);
      const now = this.o.clock();
      const expired = phase === "due" ? subjects.filter((s) => s.notAfter.getTime() <= now.getTime()) : [];
      const live = expired.length > 0 ? subjects.filter((s) => s.notAfter.getTime() > now.getTime()) : subjects;
      if (expired.length > 0) {
        // No more answers for an expired certificate: one signed on request (from its record) answers it.
        await this.o.store.deleteOcspResponses(expired.map((s) => s.serial));
        this.stats.dropped += expired.length;
      }
      await this.o.store.putOcspResponses(await this.sign(live));
      signed += live.length;
      if (phase === "missing" && live.length > 0) this.o.onChanged?.(live.map((s) => s.serial));
      const last = subjects[subjects.length - 1];
      if (last) after?.(last);
      const more = subjects.length >= this.batchSize;
      const elapsed = Date.now() - t0;
      if (n > 0 && (!more || Date.now() - reported >= PROGRESS_MS)) {
        reported = Date.now();
        this.o.onProgress?.({ phase, signed, perSecond: Math.round(signed / Math.max(0.001, (Date.now() - begun) / 1000)), done: !more });
      }
      if (!more) return;
      // The pause that keeps signing within its share of a core (and lets IPC and timers run).
      await sleep(Math.ceil(elapsed * (1 - share) / share));
      if (this.nudged || Date.now() - this.lastRevocationCheck >= this.o.checkSeconds * 1000) await this.revocations();
    }
  }

  private async sign(subjects: readonly OcspSubject[]): Promise<StoredOcspResponse[]> {
    const now = this.o.clock();
    const validityMs = this.o.validityHours * 3_600_000;
    const random = this.o.random ?? Math.random;
    const out: StoredOcspResponse[] = [];
    for (const s of subjects) {
      // Half-way, minus up to an eighth of the validity: answers signed together fall due spread out.
      const refreshAt = new Date(now.getTime() + validityMs / 2 - random() * validityMs / 8);
      out.push(await this.o.responder.presign(s, now, validityMs, refreshAt));
    }
    this.stats.signed += out.length;
    return out;
  }
}
