/**
 * 2b. In-process issuance on one and on both cores: EnrollmentService.simpleEnroll in 1 or
 * several worker threads of this process, each with its own store connection (its own
 * better-sqlite3 connection to the same WAL file, or its own PostgreSQL pool), as `serve`'s
 * workers would. Every thread warms up, then all start together; the figure is the issuances
 * of all threads over the wall time, and the CPU of this process (all its threads) per issuance,
 * plus, on PostgreSQL, the CPU of the server processes that served these connections.
 *
 * This file is also the worker's entry (it runs itself with `workerData`).
 */
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import pg from "pg";
import { openCa } from "../src/server/services.js";
import type { BenchConfig } from "./config.js";
import { makeUsers, registerUsers, type BenchUser, type UserIds } from "./fixtures.js";
import { machineCpuSeconds, processCpuSeconds } from "./measure.js";

export interface ParallelPhase {
  readonly database: "SQLite" | "PostgreSQL";
  readonly threads: number;
  /** simpleEnroll calls in flight in each thread. */
  readonly inFlight: number;
  readonly ops: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** CPU of this process (every thread) per issuance, µs. */
  readonly cpuUs: number;
  /** PostgreSQL only: CPU of the server backends of these connections per issuance, µs. */
  readonly dbCpuUs: number | undefined;
  /** Everything else the machine ran meanwhile, in cores. */
  readonly otherCores: number;
  readonly load: number;
}

interface Job {
  readonly root: string;
  readonly database: string | undefined;
  readonly warm: readonly BenchUser[];
  readonly users: readonly BenchUser[];
  readonly inFlight: number;
}

type FromWorker = { readonly ready: true } | { readonly done: number; readonly ms: number } | { readonly error: string };

/** The worker: opens the CA on the database, warms up, waits for "go", enrolls its users. */
async function workerMain(job: Job): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const s = await openCa(job.root, job.database === undefined ? {} : { database: job.database });
  try {
    const users = (list: readonly BenchUser[]): BenchUser[] => list.map((u) => ({ ...u, csrDer: Buffer.from(u.csrDer) }));
    const run = async (list: readonly BenchUser[]): Promise<number> => {
      let next = 0;
      await Promise.all(Array.from({ length: job.inFlight }, async () => {
        while (next < list.length) {
          const u = list[next++] as BenchUser;
          const cert = await s.enrollment.simpleEnroll({ userId: u.userId, passcode: u.passcode, csrDer: u.csrDer, remote: "127.0.0.1" });
          if (cert.userId !== u.userId) throw new Error(`enroll ${u.userId}: wrong certificate`);
        }
      }));
      return list.length;
    };
    await run(users(job.warm));
    const mine = users(job.users);
    const go = new Promise<void>((resolve) => port.once("message", () => resolve()));
    port.postMessage({ ready: true } satisfies FromWorker);
    await go;
    const t0 = performance.now();
    const done = await run(mine);
    // The connections stay open until told: the PostgreSQL backends' CPU is read after the run.
    const close = new Promise<void>((resolve) => port.once("message", () => resolve()));
    port.postMessage({ done, ms: performance.now() - t0 } satisfies FromWorker);
    await close;
  } finally {
    await s.close();
  }
}

if (!isMainThread && (workerData as { parallelIssuance?: Job } | undefined)?.parallelIssuance) {
  const job = (workerData as { parallelIssuance: Job }).parallelIssuance;
  workerMain(job).catch((e: unknown) => parentPort?.postMessage({ error: e instanceof Error ? e.stack ?? e.message : String(e) } satisfies FromWorker));
}

/** CPU seconds of the PostgreSQL backends whose application_name is `app` (read from /proc: same machine only). */
async function backendCpuSeconds(url: string, app: string): Promise<{ seconds: number; backends: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query<{ pid: number }>("select pid from pg_stat_activity where application_name = $1", [app]);
    let seconds = 0;
    for (const { pid } of r.rows) {
      try {
        seconds += processCpuSeconds(pid);
      } catch {
        // ended meanwhile, or not on this machine
      }
    }
    return { seconds, backends: r.rows.length };
  } finally {
    await client.end();
  }
}

/** Is there a PostgreSQL server at this URL? */
export async function postgresReachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

/** A PostgreSQL URL for a fresh schema of this run, its connections named `app`. */
export function benchPostgresUrl(base: string, schema: string, app: string): string {
  const u = new URL(base);
  u.searchParams.set("schema", schema);
  u.searchParams.set("application_name", app);
  return u.toString();
}

/**
 * Runs simpleEnroll in `threads` worker threads at once against `database` (a store URL:
 * sqlite:PATH or postgres://…?schema=…&application_name=APP), `total` issuances shared
 * between them. The users are made and registered here, before any clock starts.
 */
export async function parallelPhase(
  cfg: BenchConfig, root: string, ids: UserIds, label: ParallelPhase["database"], database: string | undefined, threads: number, total: number,
  log: (s: string) => void,
): Promise<ParallelPhase> {
  const perThread = Math.ceil(total / threads);
  const warmN = cfg.inprocWarm;
  const inFlight = cfg.inprocConcurrency[cfg.inprocConcurrency.length - 1] ?? 16;
  const users = await makeUsers(ids, threads * (warmN + perThread));
  const s = await openCa(root, database === undefined ? {} : { database });
  try {
    await registerUsers(s.store, s.dir.hmacSecret(), s.config.organization, users);
  } finally {
    await s.close();
  }
  const workers: Worker[] = [];
  const exits: Promise<void>[] = [];
  const ready: Promise<void>[] = [];
  const finished: Promise<{ done: number; ms: number }>[] = [];
  for (let t = 0; t < threads; t++) {
    const mine = users.slice(t * (warmN + perThread), (t + 1) * (warmN + perThread));
    const job: Job = { root, database, warm: mine.slice(0, warmN), users: mine.slice(warmN), inFlight };
    const w = new Worker(new URL(import.meta.url), { workerData: { parallelIssuance: job } });
    workers.push(w);
    exits.push(new Promise((resolve) => w.once("exit", () => resolve())));
    let onReady: () => void = () => undefined;
    let onDone: (v: { done: number; ms: number }) => void = () => undefined;
    let onError: (e: Error) => void = () => undefined;
    ready.push(new Promise<void>((resolve) => (onReady = resolve)));
    finished.push(new Promise((resolve, reject) => {
      onDone = resolve;
      onError = reject;
    }));
    w.on("message", (m: FromWorker) => {
      if ("ready" in m) onReady();
      else if ("done" in m) onDone(m);
      else onError(new Error(`worker ${t}: ${m.error}`));
    });
    w.on("error", (e) => onError(e));
  }
  try {
    await Promise.race([Promise.all(ready), Promise.all(finished).then(() => undefined)]);
    const app = database?.startsWith("postgres") ? new URL(database).searchParams.get("application_name") : null;
    const db0 = database && app ? await backendCpuSeconds(database, app) : undefined;
    const cpu0 = process.cpuUsage();
    const machine0 = machineCpuSeconds();
    const t0 = performance.now();
    for (const w of workers) w.postMessage("go");
    const results = await Promise.all(finished);
    const seconds = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(cpu0);
    const cpu = (c.user + c.system) / 1e6;
    const machine = machineCpuSeconds() - machine0;
    const db1 = database && app ? await backendCpuSeconds(database, app) : undefined;
    const ops = results.reduce((a, r) => a + r.done, 0);
    const dbCpu = db0 && db1 ? db1.seconds - db0.seconds : undefined;
    const phase: ParallelPhase = {
      database: label, threads, inFlight, ops, seconds, perSecond: ops / seconds, cpuUs: (cpu / ops) * 1e6,
      dbCpuUs: dbCpu === undefined ? undefined : (dbCpu / ops) * 1e6, otherCores: Math.max(0, machine - cpu - (dbCpu ?? 0)) / seconds,
      load: loadavg()[0] ?? NaN,
    };
    for (const w of workers) w.postMessage("close");
    log(`  ${label}, ${threads} thread(s) × ${inFlight} in flight: ${Math.round(phase.perSecond)}/s (${ops} in ${seconds.toFixed(2)} s), ` +
      `CPU ${Math.round(phase.cpuUs)} µs each${phase.dbCpuUs === undefined ? "" : ` + PostgreSQL backends ${Math.round(phase.dbCpuUs)} µs`}, load ${phase.load.toFixed(2)}`);
    return phase;
  } finally {
    // A worker closes its store when told (after the figures are read); one that hangs is stopped.
    await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** The PostgreSQL server's version string, for the report. */
export async function postgresVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query<{ v: string }>("select current_setting('server_version') as v");
    return r.rows[0]?.v ?? "unknown";
  } finally {
    await client.end();
  }
}

export interface ParallelResult {
  readonly phases: readonly ParallelPhase[];
  /** Why PostgreSQL was left out, when it was. */
  readonly postgresNote: string | undefined;
  readonly postgresVersion: string | undefined;
}

/**
 * The one-core / both-cores phases of `npm run bench`: simpleEnroll in 1 and 2 threads (BENCH_PARALLEL_THREADS)
 * on the data folder's SQLite file, then the same on PostgreSQL in a schema of its own (dropped afterwards).
 */
export async function parallelIssuance(cfg: BenchConfig, root: string, ids: UserIds, log: (s: string) => void): Promise<ParallelResult> {
  const phases: ParallelPhase[] = [];
  for (const t of cfg.parallelThreads) phases.push(await parallelPhase(cfg, root, ids, "SQLite", undefined, t, cfg.inprocN, log));
  const base = cfg.postgresUrl;
  if (base === undefined) return { phases, postgresNote: "skipped (BENCH_PG=0)", postgresVersion: undefined };
  if (!(await postgresReachable(base))) return { phases, postgresNote: `skipped: no PostgreSQL at ${base.replace(/\/\/[^@/]*@/, "//")}`, postgresVersion: undefined };
  const schema = `shomei_bench_${process.pid}`;
  const url = benchPostgresUrl(base, schema, `shomei-bench-${process.pid}`);
  try {
    for (const t of cfg.parallelThreads) phases.push(await parallelPhase(cfg, root, ids, "PostgreSQL", url, t, cfg.inprocN, log));
  } finally {
    const client = new pg.Client({ connectionString: base });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  }
  return { phases, postgresNote: undefined, postgresVersion: await postgresVersion(base) };
}
