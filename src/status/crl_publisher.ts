/**
 * The CRL publisher: keeps every revocation's encoded CRL entry in memory, reads only what is
 * new from the database (every checkSeconds, and at once when this process revokes), and signs
 * a new CRL when something changed or crlIntervalMinutes have passed. A request only ever gets
 * the last signed CRL: nothing a client does makes the server rebuild.
 *
 * Under `serve`'s supervisor only the supervisor's publisher signs (start()); the workers'
 * publishers are followers: they serve the CRL handed to them (adopt()), so every worker serves
 * the same bytes, and pass their nudges on (relayNudges()) instead of signing themselves.
 */
import { createHash } from "node:crypto";
import { buildCrlFromEncoded, encodeCrlEntry, CRL_REASONS, type CrlReason } from "../pki/crl.js";
import type { Signer } from "../pki/keys.js";
import type { StatusStore } from "./ports.js";

/**
 * How far back each read starts before the highest sequence number seen: PostgreSQL hands
 * out sequence numbers at insert and may commit them out of order, so a revocation with a
 * lower number can appear after a higher one. Serials already held are skipped.
 */
export const LOOK_BACK = 1000;

export interface CrlPublisherOptions {
  readonly store: Pick<StatusStore, "listRevocations">;
  readonly issuingDer: Buffer;
  readonly signer: Signer;
  readonly clock: () => Date;
  readonly intervalMinutes: number;
  readonly validityHours: number;
  readonly checkSeconds: number;
  /** Overrides LOOK_BACK (tests). */
  readonly lookBack?: number;
  readonly log?: (message: string, error?: unknown) => void;
}

export interface PublishedCrl {
  readonly der: Buffer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly crlNumber: bigint;
  readonly etag: string;
}

const isCrlReason = (r: string): r is CrlReason => (CRL_REASONS as readonly string[]).includes(r);

export class CrlPublisher {
  /** Encoded entries by serial, in the order they were learnt. */
  private readonly entries = new Map<string, Buffer>();
  private lastSeq = 0;
  private crl: PublishedCrl | undefined;
  private lastNumber = 0n;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: ((crl: PublishedCrl) => void)[] = [];
  private relay: (() => void) | undefined;
  /** Counters for tests and diagnostics. */
  readonly stats = { reads: 0, rowsRead: 0, builds: 0 };

  constructor(private readonly o: CrlPublisherOptions) {}

  /** The CRL last signed (undefined before the first refresh has finished). */
  get current(): PublishedCrl | undefined {
    return this.crl;
  }

  /** Builds the first CRL, then checks every checkSeconds until stop(). */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.o.checkSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A revocation happened in this process: check now instead of at the next tick (or tell the signer). */
  nudge(): void {
    if (this.relay) this.relay();
    else void this.refresh();
  }

  /** Calls `listener` with every CRL this publisher signs from now on. */
  onPublish(listener: (crl: PublishedCrl) => void): void {
    this.listeners.push(listener);
  }

  /** Makes this a follower: it serves `crl`, signed elsewhere (kept only if not older than the one held). */
  adopt(crl: PublishedCrl): void {
    if (!this.crl || crl.crlNumber >= this.crl.crlNumber) this.crl = crl;
  }

  /** Makes this a follower: nudge() calls `relay` (which tells the signer) instead of refreshing here. */
  relayNudges(relay: () => void): void {
    this.relay = relay;
  }

  /** Reads new revocations and re-signs when needed; concurrent calls share one run (plus one more if asked meanwhile). */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run = async (): Promise<void> => {
      do {
        this.again = false;
        try {
          await this.once();
        } catch (e) {
          this.o.log?.("CRL refresh failed", e);
        }
      } while (this.again);
    };
    this.running = run().finally(() => { this.running = undefined; });
    return this.running;
  }

  private async once(): Promise<void> {
    let changed = false;
    for (;;) {
      const before = this.lastSeq;
      const rows = await this.o.store.listRevocations(Math.max(0, this.lastSeq - (this.o.lookBack ?? LOOK_BACK)));
      this.stats.reads++;
      this.stats.rowsRead += rows.length;
      for (const r of rows) {
        if (r.seq > this.lastSeq) this.lastSeq = r.seq;
        if (this.entries.has(r.serial)) continue;
        this.entries.set(r.serial, encodeCrlEntry({ serialHex: r.serial, revokedAt: r.revokedAt, ...(isCrlReason(r.reason) ? { reason: r.reason } : {}) }));
        changed = true;
      }
      // The store hands out at most 100 000 rows a read: a first read of a big CA takes several.
      if (this.lastSeq === before || rows.length < 50_000) break;
    }
    const now = this.o.clock();
    const due = !this.crl || now.getTime() >= this.crl.thisUpdate.getTime() + this.o.intervalMinutes * 60_000;
    if (changed || due) await this.build(now);
  }

  private async build(now: Date): Promise<void> {
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + this.o.validityHours * 3_600_000);
    // The CRL number is the signing time in milliseconds: it grows across restarts and between
    // instances sharing the database without storing anything (RFC 5280 5.2.3 only asks for a
    // monotonically increasing number); within a process it also grows if the clock stalls.
    let crlNumber = BigInt(thisUpdate.getTime() + (now.getTime() % 1000));
    if (crlNumber <= this.lastNumber) crlNumber = this.lastNumber + 1n;
    this.lastNumber = crlNumber;
    const der = await buildCrlFromEncoded({ issuerDer: this.o.issuingDer, signer: this.o.signer, thisUpdate, nextUpdate, crlNumber }, [...this.entries.values()]);
    this.stats.builds++;
    const crl = { der, thisUpdate, nextUpdate, crlNumber, etag: `"${createHash("sha256").update(der).digest("base64url").slice(0, 27)}"` };
    this.crl = crl;
    for (const listener of this.listeners) {
      try {
        listener(crl);
      } catch (e) {
        this.o.log?.("CRL hand-over failed", e);
      }
    }
  }
}
