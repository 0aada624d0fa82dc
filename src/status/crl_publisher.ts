/**
 * The CRL publisher: signed CRLs live in the database (table crls, one row per scope), and every
 * process serves the bytes stored there; one process signs.
 *
 * Scopes: with crl.shards = N > 1, "shard-0" … "shard-(N-1)", each a complete CRL of the
 * certificates whose serial falls in it (pki/crl_shard.ts) with a critical issuingDistributionPoint
 * naming its URL, plus "full" (every entry, no IDP) at the old URL; with N = 1, "full" only. And
 * "arl", the root's CRL, signed offline (`shomei-ca ca sign-arl`) and imported from ca/root.crl.
 *
 * Signing: whoever holds the lease "crl-signer" (table leases; renewed every tick, taken over
 * leaseSeconds after its holder stopped). The signer reads only new revocations (plus a
 * look-back for PostgreSQL's out-of-order commits) and re-signs only the shards they fall in,
 * from the shard's previous bytes plus the new entries: no entry is decoded or read again. The
 * full CRL is put together from the shards' bytes at most every fullCrlSeconds after a change.
 * Every CRL is re-signed at least every intervalMinutes. A CRL missing, signed for another URL
 * or listing fewer entries than the database has for it (checked when the lease is taken) is
 * rebuilt from the database rows. Nothing a client does makes anything be signed.
 *
 * Starting: the stored bytes are served at once; nothing is rebuilt unless missing or stale.
 * Under `serve`, the supervisor's publisher competes for the lease and tells its workers when
 * anything changed (onPublish); the workers' publishers only read (sync()) and pass nudges on.
 *
 * A reader (no signer: a `serve` worker) learns the stored CRLs' numbers first (syncVersions(),
 * one small query) and reads the bytes on demand (read()): a request for a CRL not read yet, or
 * older than the number last seen, waits for that one CRL only, so a worker listens before it has
 * read the stored CRLs. sync() reads the shards and the ARL and keeps them; the full CRL (as big
 * as all the shards together, and fetched by few) is not kept: each request reads it from the
 * store, sharing the copy still being read or sent (so slow clients do not multiply it).
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { buildCrlFromEncoded, crlEntriesOf, encodeCrlEntry, readCrl, CRL_REASONS, type CrlReason } from "../pki/crl.js";
import { crlShardOf, crlShardSuffixes, crlShardUrl } from "../pki/crl_shard.js";
import type { Signer } from "../pki/keys.js";
import type { CrlStore, RevocationEvent, StoredCrl } from "./ports.js";
import type { BackgroundLog } from "../i18n/background_messages.js";

/**
 * How far back each read starts before the highest sequence number seen: PostgreSQL hands
 * out sequence numbers at insert and may commit them out of order, so a revocation with a
 * lower number can appear after a higher one. Serials already seen are skipped.
 */
export const LOOK_BACK = 1000;

export const FULL = "full";
export const ARL = "arl";
export const shardScope = (n: number): string => `shard-${n}`;
/** The lease whose holder signs. */
export const SIGNER_LEASE = "crl-signer";

/** Rows per read when (re)building a CRL from the database. */
const PAGE = 50_000;

export interface CrlPublisherOptions {
  readonly store: CrlStore;
  readonly issuingDer: Buffer;
  /** The issuing CA's signer; without it (a `serve` worker) this publisher only reads the stored CRLs (sync()). */
  readonly signer?: Signer;
  readonly clock: () => Date;
  readonly intervalMinutes: number;
  readonly validityHours: number;
  readonly checkSeconds: number;
  /** crl.shards: 1 = the full CRL only. */
  readonly shards: number;
  readonly leaseSeconds: number;
  readonly fullCrlSeconds: number;
  /** The root's CRL as `ca sign-arl` wrote it (ca/root.crl): stored when newer than the stored one. */
  readonly arlFile?: () => Promise<Buffer | undefined>;
  /** Overrides LOOK_BACK (tests). */
  readonly lookBack?: number;
  /** Names this process in the lease (default: host/pid/random). */
  readonly holder?: string;
  readonly log?: BackgroundLog;
  /** Told of every CRL signed and stored: its scope, the milliseconds it took (entries to stored), its size (benchmarks). */
  readonly onSigned?: (scope: string, ms: number, bytes: number) => void;
  /**
   * FAULT INJECTION (tests only; SHOMEI_FAULT_FULL_CRL_READ_DELAY_MS under serve): a reader holds
   * each read of the full CRL back this many milliseconds, to show that the shards do not wait for it.
   */
  readonly faultFullReadDelayMs?: number;
}

export interface PublishedCrl {
  readonly der: Buffer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly crlNumber: bigint;
  readonly etag: string;
}

type Held = PublishedCrl & Pick<StoredCrl, "entries" | "maxSeq" | "url">;

const isCrlReason = (r: string): r is CrlReason => (CRL_REASONS as readonly string[]).includes(r);
const encode = (r: RevocationEvent): Buffer =>
  encodeCrlEntry({ serialHex: r.serial, revokedAt: r.revokedAt, ...(isCrlReason(r.reason) ? { reason: r.reason } : {}) });
const held = (c: StoredCrl): Held => ({
  der: c.der, thisUpdate: c.thisUpdate, nextUpdate: c.nextUpdate, crlNumber: c.crlNumber, etag: `"${c.scope}-${c.crlNumber.toString(36)}"`,
  entries: c.entries, maxSeq: c.maxSeq, url: c.url,
});

export class CrlPublisher {
  private readonly crls = new Map<string, Held>();
  private readonly holder: string;
  private crlUrl = "";
  private signing = false;
  /** The highest revocation seq read, and the serials read within the look-back window. */
  private hw = 0;
  private readonly recent = new Map<string, number>();
  /** Scopes to rebuild from the database rows (their stored entries do not add up). */
  private readonly rebuild = new Set<string>();
  /** The shards changed since the full CRL was signed. */
  private fullStale = false;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: (() => void)[] = [];
  private relay: (() => void) | undefined;
  /** A reader's: the CRL number stored per scope when last looked (syncVersions()). */
  private readonly stored = new Map<string, bigint>();
  /** A reader's reads under way, per scope (requests for the same CRL share one). */
  private readonly reading = new Map<string, Promise<Held | undefined>>();
  /** A reader's last full CRL read: its bytes handed to the next request as long as a response still holds them. */
  private lastFull: { readonly meta: Held; readonly der: WeakRef<Buffer> } | undefined;
  /** Counters for tests and diagnostics: reads of new revocations and rows they returned, CRLs signed, rebuilt from rows, CRLs read by a reader. */
  readonly stats = { reads: 0, rowsRead: 0, builds: 0, rebuilds: 0, crlReads: 0 };

  constructor(private readonly o: CrlPublisherOptions) {
    this.holder = o.holder ?? `${hostname()}/${process.pid}/${randomBytes(4).toString("hex")}`;
  }

  /** The full CRL (undefined before one was signed or loaded; a reader does not keep it: see read()). */
  get current(): PublishedCrl | undefined {
    return this.crls.get(FULL);
  }

  /** The CRL of a scope held in memory: FULL, ARL or shardScope(n) (a reader's may not be read yet: see read()). */
  get(scope: string): PublishedCrl | undefined {
    return this.crls.get(scope);
  }

  private get reader(): boolean {
    return !this.o.signer;
  }

  /**
   * The CRL of a scope to serve now. A signer's is the one in memory. A reader's is at least as
   * new as the number syncVersions() last saw: read from the store when not held yet or older
   * (waiting for that CRL only); the full CRL is read for each request (see the module comment).
   */
  async read(scope: string): Promise<PublishedCrl | undefined> {
    if (!this.reader) return this.crls.get(scope);
    const want = this.stored.get(scope);
    if (want === undefined) return scope === FULL ? undefined : this.crls.get(scope);
    const have = scope === FULL ? this.heldFull() : this.crls.get(scope);
    if (have && have.crlNumber >= want) return have;
    // A read that started before the number was seen may bring the older CRL: read again then.
    for (let tries = 0; tries < 3; tries++) {
      const c = await this.readStored(scope);
      if (!c || c.crlNumber >= want) return c;
    }
    return scope === FULL ? this.heldFull() : this.crls.get(scope);
  }

  /** The full CRL last read, if its bytes are still alive somewhere (a response sending them). */
  private heldFull(): Held | undefined {
    const der = this.lastFull?.der.deref();
    return this.lastFull && der ? { ...this.lastFull.meta, der } : undefined;
  }

  /** Reads one stored CRL (a reader's), sharing a read under way; keeps it unless it is the full CRL. */
  private readStored(scope: string): Promise<Held | undefined> {
    let r = this.reading.get(scope);
    if (!r) {
      r = (async (): Promise<Held | undefined> => {
        const delay = scope === FULL ? this.o.faultFullReadDelayMs ?? 0 : 0;
        if (delay > 0) await new Promise((res) => setTimeout(res, delay));
        const c = await this.o.store.loadCrl(scope);
        this.stats.crlReads++;
        if (!c) return undefined;
        if ((this.stored.get(scope) ?? -1n) < c.crlNumber) this.stored.set(scope, c.crlNumber);
        if (scope === FULL) {
          const last = this.heldFull();
          if (last && last.crlNumber >= c.crlNumber) return last;
          const h = held(c);
          this.lastFull = { meta: { ...h, der: Buffer.alloc(0) }, der: new WeakRef(h.der) };
          return h;
        }
        const had = this.crls.get(scope);
        if (had && had.crlNumber >= c.crlNumber) return had;
        this.crls.set(scope, held(c));
        return this.crls.get(scope);
      })().finally(() => this.reading.delete(scope));
      this.reading.set(scope, r);
    }
    return r;
  }

  /**
   * A reader's first look: the numbers of the stored CRLs, without their bytes (read() reads a
   * CRL when asked for it). True when any number changed.
   */
  async syncVersions(): Promise<boolean> {
    let changed = false;
    for (const v of await this.o.store.crlVersions()) {
      if ((this.stored.get(v.scope) ?? -1n) >= v.crlNumber) continue;
      this.stored.set(v.scope, v.crlNumber);
      changed = true;
    }
    return changed;
  }

  /** True while this publisher holds the signer's lease. */
  get isSigner(): boolean {
    return this.signing;
  }

  private get entryScopes(): string[] {
    return this.o.shards > 1 ? Array.from({ length: this.o.shards }, (_, n) => shardScope(n)) : [FULL];
  }

  /** The URL a scope's issuingDistributionPoint names ("" for the full CRL). */
  private urlOf(scope: string): string {
    return this.o.shards > 1 && scope !== FULL ? crlShardUrl(this.crlUrl, Number(scope.slice("shard-".length))) : "";
  }

  private endingsOf(scope: string): string[] | undefined {
    return this.o.shards > 1 && scope !== FULL ? crlShardSuffixes(Number(scope.slice("shard-".length)), this.o.shards) : undefined;
  }

  /**
   * Serves what is stored, then signs whenever it holds the lease (checking every checkSeconds,
   * or a third of the lease if shorter). `crlUrl` is the full CRL's URL, which the shards' URLs
   * derive from. Waits for the first round only when a CRL is missing (a new CA, or the first
   * start after an upgrade), so a restart serves the stored bytes at once.
   */
  async start(crlUrl: string): Promise<void> {
    this.setUrl(crlUrl);
    const stored = new Set((await this.o.store.crlVersions()).map((v) => v.scope));
    const complete = [...this.entryScopes, FULL].every((s) => stored.has(s));
    if (complete) {
      await this.sync();
      void this.refresh();
    } else await this.refresh();
    const every = Math.max(1, Math.min(this.o.checkSeconds, this.o.leaseSeconds / 3));
    this.timer = setInterval(() => void this.refresh(), every * 1000);
    this.timer.unref();
  }

  /** The full CRL's URL, which the shards' URLs (their issuingDistributionPoint) derive from. */
  setUrl(crlUrl: string): void {
    this.crlUrl = crlUrl;
  }

  /** Stops the timer and gives the lease up (so another instance takes over at once). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    if (this.signing) {
      this.signing = false;
      await this.o.store.releaseLease(SIGNER_LEASE, this.holder).catch((e: unknown) => this.o.log?.("CRL_LEASE_RELEASE_FAILED", e));
    }
  }

  /** A revocation happened in this process: check now instead of at the next tick (or tell the signer). */
  nudge(): void {
    if (this.relay) this.relay();
    else void this.refresh();
  }

  /** Calls `listener` whenever the CRLs this process serves changed (signed here or read from the store). */
  onPublish(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Makes this a follower: nudge() calls `relay` (which tells the signer) instead of refreshing here. */
  relayNudges(relay: () => void): void {
    this.relay = relay;
  }

  private published(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (e) {
        this.o.log?.("CRL_HANDOVER_FAILED", e);
      }
    }
  }

  /**
   * Reads the CRLs stored since the last look (only the changed ones' bytes; a reader's: all but
   * the full CRL, see read()). True when something changed.
   */
  async sync(): Promise<boolean> {
    if (this.reader) {
      const changed = await this.syncVersions();
      // One at a time: a request for another CRL meanwhile reads that one itself.
      for (const [scope, n] of this.stored) if (scope !== FULL && (this.crls.get(scope)?.crlNumber ?? -1n) < n) await this.read(scope);
      if (changed) this.published();
      return changed;
    }
    let changed = false;
    for (const v of await this.o.store.crlVersions()) {
      if (this.crls.get(v.scope)?.crlNumber === v.crlNumber) continue;
      const c = await this.o.store.loadCrl(v.scope);
      if (!c) continue;
      const had = this.crls.get(v.scope);
      if (had && had.crlNumber >= c.crlNumber) continue;
      this.crls.set(v.scope, held(c));
      changed = true;
    }
    if (changed) this.published();
    return changed;
  }

  /** One round: renew or take the lease; the holder signs what is due, the others read what changed. Concurrent calls share a round. */
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
          this.o.log?.("CRL_REFRESH_FAILED", e);
        }
      } while (this.again);
    };
    this.running = run().finally(() => { this.running = undefined; });
    return this.running;
  }

  private async once(): Promise<void> {
    const now = this.o.clock();
    const mine = await this.o.store.acquireLease(SIGNER_LEASE, this.holder, now, new Date(now.getTime() + this.o.leaseSeconds * 1000));
    if (!mine) {
      if (this.signing) this.o.log?.("CRL_LEASE_LOST", SIGNER_LEASE);
      this.signing = false;
      await this.sync();
      return;
    }
    if (!this.signing) await this.takeOver();
    let changed = await this.importArl();
    changed = (await this.sign(now)) || changed;
    if (changed) this.published();
  }

  /**
   * Becoming the signer: load what is stored, continue from its highest revocation seq, and
   * mark for rebuilding every CRL whose entry count differs from the database's (a revocation
   * committed late, a signer that stopped half-way).
   */
  private async takeOver(): Promise<void> {
    await this.sync();
    this.signing = true;
    this.rebuild.clear();
    this.recent.clear();
    const scopes = this.entryScopes;
    this.hw = Math.max(0, ...scopes.map((s) => this.crls.get(s)?.maxSeq ?? 0));
    const lookBack = this.o.lookBack ?? LOOK_BACK;
    for (const r of await this.o.store.listRevocations(Math.max(0, this.hw - lookBack), lookBack)) {
      if (r.seq <= this.hw) this.recent.set(r.serial, r.seq);
    }
    for (const s of scopes) {
      const c = this.crls.get(s);
      if (!c) continue;
      const rows = await this.o.store.countRevocationsEndingIn(this.endingsOf(s));
      // Rows above hw are read as new; the count here is of what the stored CRLs should hold.
      const above = (await this.newerRows(s)).length;
      if (rows - above !== c.entries) this.rebuild.add(s);
    }
    const full = this.crls.get(FULL);
    this.fullStale = this.o.shards > 1 && (!full || full.maxSeq < this.hw);
    this.o.log?.("CRL_LEASE_TAKEN", `${this.holder}; ${this.rebuild.size} to rebuild`);
  }

  /** The rows of a scope above hw (few: those revoked since the last signature). */
  private async newerRows(scope: string): Promise<readonly RevocationEvent[]> {
    return this.o.store.revocationsEndingIn(this.endingsOf(scope), this.hw, PAGE);
  }

  /** Stores the ARL file's CRL when it is newer than the stored one. */
  private async importArl(): Promise<boolean> {
    const der = await this.o.arlFile?.().catch(() => undefined);
    const had = this.crls.get(ARL);
    if (!der || had?.der.equals(der)) return false;
    let info;
    try {
      info = readCrl(der);
    } catch (e) {
      this.o.log?.("ARL_UNREADABLE", e);
      return false;
    }
    const crlNumber = info.crlNumber ?? 0n;
    if (had && crlNumber <= had.crlNumber) return false;
    return this.save({
      scope: ARL, der, crlNumber, thisUpdate: info.thisUpdate, nextUpdate: info.nextUpdate ?? info.thisUpdate, entries: info.entries.length,
      maxSeq: 0, url: "", signedBy: this.holder,
    }, had?.crlNumber);
  }

  /** Reads new revocations and signs every CRL that needs it. True when anything was signed. */
  private async sign(now: Date): Promise<boolean> {
    const fresh = new Map<string, RevocationEvent[]>();
    const lookBack = this.o.lookBack ?? LOOK_BACK;
    for (;;) {
      const rows = await this.o.store.listRevocations(Math.max(0, this.hw - lookBack), 100_000);
      this.stats.reads++;
      this.stats.rowsRead += rows.length;
      const before = this.hw;
      for (const r of rows) {
        if (r.seq > this.hw) this.hw = r.seq;
        if (this.recent.has(r.serial)) continue;
        this.recent.set(r.serial, r.seq);
        const scope = this.o.shards > 1 ? shardScope(crlShardOf(r.serial, this.o.shards)) : FULL;
        // A CRL built from the rows below reads them itself.
        if (!this.crls.has(scope) || this.rebuild.has(scope)) continue;
        const list = fresh.get(scope) ?? [];
        list.push(r);
        fresh.set(scope, list);
      }
      for (const [serial, seq] of this.recent) if (seq <= this.hw - lookBack) this.recent.delete(serial);
      // The store hands out at most 100 000 rows a read: a first read of a big CA takes several.
      if (this.hw === before || rows.length < 50_000) break;
    }

    let changed = false;
    for (const scope of this.entryScopes) {
      if (!this.signing) return changed; // lost the lease (save() found another signer's CRL)
      const c = this.crls.get(scope);
      const added = fresh.get(scope) ?? [];
      if (!c || this.rebuild.has(scope)) {
        changed = (await this.signScope(scope, now, await this.rowsOf(scope))) || changed;
      } else if (added.length > 0 || c.url !== this.urlOf(scope) || this.due(c, now)) {
        changed = (await this.signScope(scope, now, { parts: [crlEntriesOf(c.der), ...added.map(encode)], count: c.entries + added.length })) || changed;
      }
    }
    if (this.o.shards > 1 && this.signing) {
      const full = this.crls.get(FULL);
      if (changed) this.fullStale = true;
      const waited = !full || now.getTime() >= full.thisUpdate.getTime() + this.o.fullCrlSeconds * 1000;
      if (!full || this.due(full, now) || (this.fullStale && waited)) {
        const parts: Buffer[] = [];
        let count = 0;
        for (const s of this.entryScopes) {
          const c = this.crls.get(s);
          if (!c) return changed; // a shard could not be signed this round: the full CRL waits for it
          parts.push(crlEntriesOf(c.der));
          count += c.entries;
        }
        if (await this.signScope(FULL, now, { parts, count })) {
          this.fullStale = false;
          changed = true;
        }
      }
    }
    return changed;
  }

  private due(c: Held, now: Date): boolean {
    return now.getTime() >= c.thisUpdate.getTime() + this.o.intervalMinutes * 60_000;
  }

  /** A scope's entries encoded from the database rows up to hw (rows above it are read as new later). */
  private async rowsOf(scope: string): Promise<{ parts: Buffer[]; count: number }> {
    this.stats.rebuilds++;
    const endings = this.endingsOf(scope);
    const parts: Buffer[] = [];
    for (let after = 0; ;) {
      const rows = await this.o.store.revocationsEndingIn(endings, after, PAGE);
      for (const r of rows) if (r.seq <= this.hw) parts.push(encode(r));
      const last = rows[rows.length - 1];
      if (!last || rows.length < PAGE || last.seq > this.hw) break;
      after = last.seq;
    }
    return { parts, count: parts.length };
  }

  private async signScope(scope: string, now: Date, e: { parts: readonly Uint8Array[]; count: number }): Promise<boolean> {
    const had = this.crls.get(scope);
    const t0 = performance.now();
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + this.o.validityHours * 3_600_000);
    // The CRL number (per scope, RFC 5280 5.2.3) is the signing time in milliseconds, or one more
    // than the stored one if that is higher: it grows across restarts and signers; saveCrl only
    // replaces the number it read, so two signers cannot make it go back.
    let crlNumber = BigInt(now.getTime());
    if (had && crlNumber <= had.crlNumber) crlNumber = had.crlNumber + 1n;
    const url = this.urlOf(scope);
    const signer = this.o.signer;
    if (!signer) throw new Error("this process only reads the stored CRLs (no signer)");
    const der = await buildCrlFromEncoded({
      issuerDer: this.o.issuingDer, signer, thisUpdate, nextUpdate, crlNumber, ...(url ? { distributionPoint: url } : {}),
    }, e.parts);
    this.stats.builds++;
    const ok = await this.save({ scope, der, crlNumber, thisUpdate, nextUpdate, entries: e.count, maxSeq: this.hw, url, signedBy: this.holder }, had?.crlNumber);
    if (ok) {
      this.rebuild.delete(scope);
      this.o.onSigned?.(scope, performance.now() - t0, der.length);
    }
    return ok;
  }

  private async save(c: StoredCrl, previous: bigint | undefined): Promise<boolean> {
    if (await this.o.store.saveCrl(c, previous)) {
      this.crls.set(c.scope, held(c));
      return true;
    }
    // Another signer stored one meanwhile: it has the lease, this process follows.
    this.o.log?.("CRL_FOLLOWING", c.scope);
    this.signing = false;
    await this.sync();
    return false;
  }
}
