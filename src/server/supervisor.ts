/**
 * The supervisor `serve` runs: it forks the worker processes that serve every request
 * (node:cluster), hands each of them the listening sockets it bound (listeners.ts: every worker
 * accepts connections on them itself), replaces a worker that dies, with a backoff so a crash
 * loop does not spin, and drains them all on shutdown. It does no request work itself, so a
 * request that aborts Node in native code costs only the requests in flight on one worker.
 *
 * Workers exit by themselves when the supervisor's IPC channel closes (node:cluster does this
 * in every worker), so a supervisor killed with SIGKILL leaves no worker holding a port.
 */
import cluster, { type Worker } from "node:cluster";
import type { Server } from "node:net";
import { ShomeiError, type ErrorCode, type ErrorParams } from "../i18n/errors.js";
import type { ResponderHandOver } from "../status/ocsp_responder.js";
import type { ListenerName, SharedSocket } from "./listeners.js";

export interface WireResponder {
  readonly der: string;
  readonly keyPem: string;
}

/** What a worker needs to serve: sent once, right after it started. */
export interface WorkerInit {
  readonly t: "init";
  readonly worker: number;
  readonly data: string;
  readonly database?: string;
  readonly host: string;
  readonly ports: { readonly est: number; readonly portal: number; readonly http: number };
  /** How many sockets each listener has (more than one for "localhost": 127.0.0.1 and ::1); "listener" messages bring them. */
  readonly sockets: Readonly<Record<ListenerName, number>>;
  readonly logLevel: "warn" | "info";
  /** The OCSP responder, once the supervisor has one (else a "responder" message brings it). */
  readonly responder?: WireResponder;
  /**
   * The CA keys the supervisor decrypted (unencrypted PKCS#8 PEM, over the IPC channel only), once
   * it has (else a "keys" message brings them): the worker serves revocation status meanwhile.
   */
  readonly keys?: WireKeys;
}

/** The issuing CA key and the TLS key as unencrypted PKCS#8 PEM. */
export interface WireKeys {
  readonly issuing: string;
  readonly tls: string;
}

export type ToWorker =
  | WorkerInit
  /** The stored CRLs changed: read them again (the bytes stay in the database, not on the IPC channel). */
  | { readonly t: "crl" }
  | { readonly t: "responder"; readonly responder: WireResponder }
  /** The CA keys are unwrapped: EST and the portal can listen now. */
  | { readonly t: "keys"; readonly keys: WireKeys }
  /** These certificates' pre-signed OCSP answers changed in the store. */
  | { readonly t: "ocsp"; readonly serials: readonly string[] }
  /** One of the supervisor's sockets, right after init (the handle travels with the message). */
  | { readonly t: "listener"; readonly name: ListenerName; readonly address: string }
  | { readonly t: "drain" };

/** The ports a worker listens on once it accepts connections. */
export interface WorkerReady {
  readonly t: "ready";
  readonly est: number;
  readonly portal: number;
  readonly http: number;
}

export type FromWorker =
  /** The worker listens for messages now (one sent earlier, while its modules load, would be lost). */
  | { readonly t: "hello" }
  /** The publication listener (CRLs, OCSP, CA certificates) accepts connections; EST and the portal follow. */
  | { readonly t: "serving" }
  | WorkerReady
  | { readonly t: "failed"; readonly code?: ErrorCode; readonly params?: ErrorParams; readonly message: string }
  | { readonly t: "nudge" };

export const toWireResponder = (r: ResponderHandOver): WireResponder => ({ der: r.der.toString("base64"), keyPem: r.keyPem });
export const fromWireResponder = (r: WireResponder): ResponderHandOver => ({ der: Buffer.from(r.der, "base64"), keyPem: r.keyPem });

/** A worker that lived shorter than this and died counts towards the backoff. */
const QUICK_DEATH_MS = 10_000;
const MAX_BACKOFF_MS = 30_000;

/** Milliseconds before restarting after the n-th quick death in a row: at once, then 1 s, 2 s, 4 s … 30 s. */
export function restartDelay(quickDeaths: number): number {
  if (quickDeaths <= 1) return 0;
  return Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (quickDeaths - 2));
}

export interface SupervisorOptions {
  /** Number of workers (1 or more). */
  readonly count: number;
  /** The worker's entry module (a file path). */
  readonly exec: string;
  /** The init message for worker n (1-based); called at each (re)start, so it carries the current responder. */
  readonly init: (worker: number) => WorkerInit;
  /** The sockets every worker listens on, sent after init; the supervisor closes its copies when it drains. */
  readonly sockets: readonly SharedSocket[];
  /** Closes the supervisor's copies of the sockets. */
  readonly closeSockets: () => void;
  /** A worker revoked something: the CRL and the OCSP answer should be re-signed now. */
  readonly onNudge: () => void;
  /** A worker serves revocation status (its publication listener is open). */
  readonly onServing?: (worker: number) => void;
  /** A worker died or was killed (WORKER_DIED, WORKER_NOT_DRAINED). */
  readonly onProblem: (e: ShomeiError) => void;
  /** A replacement worker accepts connections. */
  readonly onReplaced: (worker: number, pid: number) => void;
  /** How long a worker may take to finish its requests on shutdown before it is killed. */
  readonly drainMs: number;
}

interface Slot {
  readonly n: number;
  worker: Worker | undefined;
  startedAt: number;
  quickDeaths: number;
  restartTimer: NodeJS.Timeout | undefined;
}

function describeExit(code: number | null, signal: string | null): string {
  return signal ? `signal ${signal}` : `exit code ${code ?? "?"}`;
}

function workerError(m: Extract<FromWorker, { t: "failed" }>): Error {
  return m.code ? new ShomeiError(m.code, m.params ?? {}) : new Error(m.message);
}

export class Supervisor {
  private readonly slots: Slot[] = [];
  private draining = false;

  constructor(private readonly o: SupervisorOptions) {
    for (let n = 1; n <= o.count; n++) this.slots.push({ n, worker: undefined, startedAt: 0, quickDeaths: 0, restartTimer: undefined });
  }

  /** The process IDs of the workers running now, in worker order. */
  pids(): number[] {
    return this.slots.flatMap((s) => (s.worker?.process.pid !== undefined ? [s.worker.process.pid] : []));
  }

  /**
   * Starts every worker; resolves with the first one's ports once all accept connections.
   * A worker that fails at start (a port in use, a broken setting) stops all of them, and its
   * error is thrown here.
   */
  async start(): Promise<WorkerReady> {
    // The workers accept connections themselves on the sockets they are handed (the kernel hands
    // each connection to one of them) instead of the supervisor accepting every connection and
    // passing it on over IPC (node:cluster's round-robin): measured here, that hand-over made a new
    // connection cost about three times the CPU (0.36 against 0.12 ms for a bare server; bench:ocsp).
    cluster.setupPrimary({ exec: this.o.exec, args: [] });
    // The first worker opens the store first: after an upgrade it migrates the database, and
    // SQLite has no migration lock between processes (Kysely's is a no-op there). The others start
    // once it serves (or fails), all sharing the ports it bound; the first failure is the one reported.
    const [head, ...rest] = this.slots;
    if (!head) throw new Error("no workers");
    try {
      let opened: () => void = () => undefined;
      const storeOpen = new Promise<void>((resolve) => { opened = resolve; });
      const first = this.launch(head, true, () => opened());
      await Promise.race([storeOpen, first.then(() => undefined)]);
      const [ready] = await Promise.all([first, ...rest.map((s) => this.launch(s, true))]);
      return ready;
    } catch (e) {
      await this.drain();
      throw e;
    }
  }

  /** Sends a message to every worker that runs now (workers started later get the state in their init). */
  broadcast(m: ToWorker): void {
    for (const s of this.slots) {
      const w = s.worker;
      // A worker dying meanwhile cannot take it: its replacement gets the state in its init.
      if (w?.isConnected()) w.send(m, () => undefined);
    }
  }

  /** Forks `slot`'s worker; `serving` is called when it serves revocation status (its store open). */
  private launch(slot: Slot, atStart: boolean, serving?: () => void): Promise<WorkerReady> {
    return new Promise<WorkerReady>((resolve, reject) => {
      const w = cluster.fork({ SHOMEI_WORKER: String(slot.n) });
      slot.worker = w;
      slot.startedAt = Date.now();
      let ready = false;
      let failure: Error | undefined;
      w.on("message", (m: FromWorker) => {
        if (m.t === "hello") {
          w.send(this.o.init(slot.n), () => undefined);
          // A raw bound handle (not a net.Server): the worker gets it without listening on it, so
          // no connection is accepted before its app takes it. Node sends it as "net.Native".
          for (const s of this.o.sockets) w.send({ t: "listener", name: s.name, address: s.address } satisfies ToWorker, s.handle as unknown as Server, () => undefined);
        }
        else if (m.t === "nudge") this.o.onNudge();
        else if (m.t === "serving") {
          serving?.();
          this.o.onServing?.(slot.n);
        }
        else if (m.t === "failed") failure = workerError(m);
        else if (m.t === "ready" && !ready) {
          ready = true;
          if (!atStart && w.process.pid !== undefined) this.o.onReplaced(slot.n, w.process.pid);
          resolve(m);
        }
      });
      // A worker that cannot be reached (spawn failed) also ends in exit.
      w.on("error", () => undefined);
      w.once("exit", (code: number | null, signal: string | null) => {
        if (slot.worker === w) slot.worker = undefined;
        if (!ready) {
          const e = failure ?? new ShomeiError("WORKER_DIED", { worker: slot.n, pid: w.process.pid ?? "?", how: describeExit(code, signal), delay: "-" });
          if (atStart) return reject(e);
          // A replacement that could not start: reported, and tried again after the backoff.
          if (failure instanceof ShomeiError) this.o.onProblem(failure);
        }
        if (this.draining) return;
        this.replace(slot, w.process.pid ?? 0, describeExit(code, signal));
      });
    });
  }

  private replace(slot: Slot, pid: number, how: string): void {
    slot.quickDeaths = Date.now() - slot.startedAt < QUICK_DEATH_MS ? slot.quickDeaths + 1 : 1;
    const delay = restartDelay(slot.quickDeaths);
    this.o.onProblem(new ShomeiError("WORKER_DIED", { worker: slot.n, pid, how, delay: Math.round(delay / 1000) }));
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.draining) return;
      this.launch(slot, false).catch(() => undefined);
    }, delay);
  }

  /**
   * Shutdown: no more restarts; every worker stops accepting, finishes its requests in flight
   * and exits; one that has not exited after drainMs is killed.
   */
  async drain(): Promise<void> {
    this.draining = true;
    // The workers' copies only from now: once they closed theirs, the ports refuse connections.
    this.o.closeSockets();
    await Promise.all(this.slots.map(async (slot) => {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      const w = slot.worker;
      if (!w || w.isDead()) return;
      const exited = new Promise<void>((res) => w.once("exit", () => res()));
      if (w.isConnected()) w.send({ t: "drain" } satisfies ToWorker, (e) => { if (e) w.process.kill("SIGKILL"); });
      else w.process.kill("SIGKILL");
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((res) => { timer = setTimeout(() => res("late"), this.o.drainMs); });
      if ((await Promise.race([exited, late])) === "late") {
        this.o.onProblem(new ShomeiError("WORKER_NOT_DRAINED", { worker: slot.n, pid: w.process.pid ?? "?", seconds: Math.round(this.o.drainMs / 1000) }));
        w.process.kill("SIGKILL");
        await exited;
      }
      clearTimeout(timer);
    }));
  }
}
