/**
 * What `npm run bench:compare` measures with: the CPU of a whole process tree from /proc (a
 * server and every process below it: nginx's master and workers, serve's supervisor and
 * workers), the CPU of the C load generators this process started and waited for, and the
 * runs of `openssl s_time`, `ab` and `wrk` (EST, bench/est_wrk.lua) with their output read back.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { processCpuSeconds, ticksPerSecond } from "./measure.js";

/**
 * Sends `signal` to a child (a server, nginx, perf) and resolves once it has exited; SIGKILL if it
 * is still there after `killAfterMs`. A clean exit is waited for because that is when a
 * --cpu-prof or perf file is written.
 */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", killAfterMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
  await exited;
  clearTimeout(timer);
}

/** Fields after "pid (comm) ": index 0 is the state (field 3 of proc(5)). */
function statFields(pid: number | "self"): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** `pid` and every process below it (read from /proc, as `pgrep -P` does, recursively). */
export function processTree(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      parent.set(Number(entry), Number(statFields(Number(entry))[1]));
    } catch {
      // The process ended while we looked.
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, ppid] of parent) if (ppid === tree[i]) tree.push(child);
  }
  return tree;
}

/**
 * utime + stime of the tree's processes alive now, plus cutime + cstime of its root (the
 * processes below it that ended and were waited for: a worker replaced meanwhile).
 */
export function treeCpuSeconds(pid: number): number {
  let sum = 0;
  for (const p of processTree(pid)) {
    try {
      sum += processCpuSeconds(p);
    } catch {
      // Ended between the listing and the read: its time is in its parent's cutime.
    }
  }
  const f = statFields(pid);
  return sum + (Number(f[13]) + Number(f[14])) / ticksPerSecond();
}

/** CPU of the child processes this process started, ended and waited for (the C load generators). */
export function waitedChildrenCpuSeconds(): number {
  const f = statFields("self");
  return (Number(f[13]) + Number(f[14])) / ticksPerSecond();
}

export interface Done {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runCommand(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Done> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...(env ? { env } : {}) });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => { stdout += d.toString("utf8"); });
    p.stderr.on("data", (d: Buffer) => { stderr += d.toString("utf8"); });
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** One measured window: operations done, wall seconds, server tree CPU, load generator CPU. */
export interface Window {
  readonly ops: number;
  readonly seconds: number;
  readonly serverCpu: number;
  /** Of serverCpu, the root process alone (serve's supervisor, nginx's master, the bare Node server itself). */
  readonly rootCpu: number;
  readonly clientCpu: number;
  /** Latencies (ms) where the generator reports them: p50 and p99. */
  readonly p50?: number;
  readonly p99?: number;
  /** Anything that was not a 200 or broke. */
  readonly failures: number;
  readonly note?: string;
}

/**
 * Runs `parts` at once; `ops` etc. come from their outputs; CPU is measured around all of them.
 * `settle`, when given, is awaited after them and before the server's CPU is read: work the
 * window caused that the server does later (bench/presigned.ts). The rate and the load
 * generator's CPU are taken before it.
 */
export async function measured<T>(serverPid: number, parts: readonly (() => Promise<T>)[], read: (outs: readonly T[]) => Omit<Window, "seconds" | "serverCpu" | "rootCpu" | "clientCpu">, ownCpu = false, settle?: () => Promise<void>): Promise<Window> {
  const s0 = treeCpuSeconds(serverPid);
  const r0 = processCpuSeconds(serverPid);
  const c0 = waitedChildrenCpuSeconds();
  const o0 = process.cpuUsage();
  const t0 = performance.now();
  const outs = await Promise.all(parts.map((p) => p()));
  const seconds = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(o0);
  const clientCpu = waitedChildrenCpuSeconds() - c0 + (ownCpu ? (own.user + own.system) / 1e6 : 0);
  await settle?.();
  const serverCpu = treeCpuSeconds(serverPid) - s0;
  const rootCpu = processCpuSeconds(serverPid) - r0;
  return { ...read(outs), seconds, serverCpu, rootCpu, clientCpu };
}

export interface TlsClient {
  readonly certFile: string;
  readonly keyFile: string;
  /** Certificate and key in one PEM file (what ab -E takes). */
  readonly certKeyFile: string;
  readonly caFile: string;
}

/** `clients` × `openssl s_time -new` for `seconds`: full TLS handshake with the client certificate + GET path, no resumption. */
export function sTime(port: number, path: string, seconds: number, clients: number, c: TlsClient): Array<() => Promise<Done>> {
  const args = ["s_time", "-connect", `127.0.0.1:${port}`, "-new", "-cert", c.certFile, "-key", c.keyFile, "-CAfile", c.caFile, "-www", path, "-time", String(seconds)];
  return Array.from({ length: clients }, () => () => runCommand("openssl", args));
}

export function readSTime(outs: readonly Done[]): { ops: number; failures: number; note: string } {
  let ops = 0;
  let failures = 0;
  const perConnection: number[] = [];
  for (const o of outs) {
    // "N connections in T real seconds, B bytes read per connection" (the -new pass).
    const m = /(\d+) connections in \d+ real seconds, (\d+) bytes read per connection/.exec(o.stdout);
    if (o.code !== 0 || !m) {
      failures += 1;
      continue;
    }
    ops += Number(m[1]);
    perConnection.push(Number(m[2]));
  }
  return { ops, failures, note: `${Math.min(...perConnection)}–${Math.max(...perConnection)} bytes read per connection` };
}

/** ab processes sharing `clients` connections for `seconds` (keep-alive with -k); CSV percentiles in temp files. */
export function ab(url: string, seconds: number, clients: number, processes: number, keepAlive: boolean, c: TlsClient, headers: readonly string[], csvPrefix: string): Array<() => Promise<Done & { csv: string }>> {
  return Array.from({ length: processes }, (_, i) => async () => {
    const csv = `${csvPrefix}-${i}.csv`;
    const args = ["-q", "-t", String(seconds), "-n", "100000000", "-c", String(Math.max(1, Math.round(clients / processes))), "-E", c.certKeyFile, "-e", csv,
      ...(keepAlive ? ["-k"] : []), ...headers.flatMap((h) => ["-H", h]), url];
    const d = await runCommand("ab", args);
    return { ...d, csv };
  });
}

/** Sums ab's counts; p50 is the mean of the processes' medians, p99 the highest of their p99s. */
export function readAb(outs: readonly (Done & { csv: string })[]): { ops: number; failures: number; p50: number; p99: number } {
  let ops = 0;
  let failures = 0;
  const p50: number[] = [];
  const p99: number[] = [];
  for (const o of outs) {
    const complete = /^Complete requests:\s+(\d+)/m.exec(o.stdout);
    if (o.code !== 0 || !complete) {
      failures += 1;
      continue;
    }
    const failed = Number(/^Failed requests:\s+(\d+)/m.exec(o.stdout)?.[1] ?? 0);
    const non2xx = Number(/^Non-2xx responses:\s+(\d+)/m.exec(o.stdout)?.[1] ?? 0);
    ops += Number(complete[1]) - failed - non2xx;
    failures += failed + non2xx;
    const rows = new Map(readFileSync(o.csv, "utf8").split("\n").slice(1).map((l) => l.split(",").map(Number) as [number, number]));
    p50.push(rows.get(50) ?? NaN);
    p99.push(rows.get(99) ?? NaN);
  }
  return { ops, failures, p50: p50.reduce((a, b) => a + b, 0) / p50.length, p99: Math.max(...p99) };
}

/** The wrk files of the EST window: the Lua script and the LD_PRELOAD library (bench/wrk_fresh_tls.c, compiled). */
export interface WrkTools {
  readonly script: string;
  /** The compiled wrk_fresh_tls.so; undefined runs wrk alone (only the resumption check does). */
  readonly freshTls: string | undefined;
}

/** What bench/est_wrk.lua printed, and the enrollment times the library wrote. */
export interface WrkEst extends Done {
  readonly rows: number;
  readonly sent: number;
  readonly answered: number;
  /** 200 with a base64 DER body. */
  readonly ok: number;
  readonly notOk: number;
  /** Connections wrk re-opened after the table was used up (a handshake each, no enrollment). */
  readonly idle: number;
  readonly socketErrors: number;
  readonly statuses: string;
  /** Whole enrollments, TLS handshake included (µs), from wrk_fresh_tls.so. */
  readonly timesUs: Float64Array;
}

/**
 * One wrk (one thread, `clients` connections, Connection: close) sending each row of `rowsFile`
 * once; ends when every row has its answer (or at `maxSeconds`).
 */
export async function wrkEst(base: URL, rowsFile: string, sampleFile: string, clients: number, maxSeconds: number, tools: WrkTools): Promise<WrkEst> {
  const timesFile = `${rowsFile}.times`;
  const env = { ...process.env, ...(tools.freshTls ? { LD_PRELOAD: tools.freshTls, WRK_FRESH_TLS_TIMES: timesFile } : {}) };
  const args = ["-t1", `-c${clients}`, `-d${maxSeconds}s`, "--timeout", `${maxSeconds}s`, "-s", tools.script, base.origin + "/", "--", rowsFile, sampleFile];
  const d = await runCommand("wrk", args, env);
  const m = /^estload rows=(\d+) sent=(\d+) answered=(\d+) ok=(\d+) not_ok=(\d+) idle=(\d+) connect=(\d+) read=(\d+) write=(\d+) timeout=(\d+) statuses=(\S*)$/m.exec(d.stdout);
  if (d.code !== 0 || !m) throw new Error(`wrk ${args.join(" ")}: exit ${String(d.code)}\n${d.stdout}\n${d.stderr}`);
  const n = (i: number): number => Number(m[i]);
  let timesUs = new Float64Array(0);
  if (tools.freshTls) {
    timesUs = Float64Array.from(readFileSync(timesFile, "utf8").split("\n").filter((l) => l !== "").map(Number));
  }
  return {
    ...d, rows: n(1), sent: n(2), answered: n(3), ok: n(4), notOk: n(5), idle: n(6), socketErrors: n(7) + n(8) + n(9) + n(10), statuses: m[11] ?? "", timesUs,
  };
}
