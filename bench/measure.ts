/** Timing helpers: rate loops, a bounded-concurrency runner, latency percentiles, process CPU. */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

export interface Rate {
  readonly ops: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly usPerOp: number;
}

export function rate(ops: number, seconds: number): Rate {
  return { ops, seconds, perSecond: ops / seconds, usPerOp: (seconds * 1e6) / ops };
}

/** Calls `fn` in batches until `ms` have passed (after a short warm-up). */
export function rateSync(fn: (i: number) => void, ms: number, batch = 50): Rate {
  for (let i = 0; i < batch; i++) fn(i);
  let ops = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < batch; i++) fn(ops + i);
    ops += batch;
    t = performance.now();
  }
  return rate(ops, (t - t0) / 1000);
}

/** Like rateSync, for promises: `concurrency` calls in flight until `ms` have passed. */
export async function rateAsync(fn: (i: number) => Promise<unknown>, ms: number, concurrency = 1): Promise<Rate> {
  for (let i = 0; i < 20; i++) await fn(i);
  let ops = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() - t0 < ms) await fn(ops++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return rate(ops, (performance.now() - t0) / 1000);
}

export interface RunResult extends Rate {
  readonly concurrency: number;
  /** Items that were not run because the phase hit its time limit. */
  readonly skipped: number;
  readonly latenciesMs: Float64Array;
  /** CPU (user + system) this process used during the run. */
  readonly cpuSeconds: number;
  /** CPU every process on the machine used during the run (to see what else was running). */
  readonly machineCpuSeconds: number;
}

/**
 * Runs `fn` once per item with at most `concurrency` in flight; stops taking new items after
 * `maxSeconds`. A rejected call rejects the whole run (a benchmark of failures is worthless).
 */
export async function runItems<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>, maxSeconds: number): Promise<RunResult> {
  const latencies = new Float64Array(items.length);
  let next = 0;
  let done = 0;
  const cpu0 = process.cpuUsage();
  const machine0 = machineCpuSeconds();
  const t0 = performance.now();
  const deadline = t0 + maxSeconds * 1000;
  const worker = async (): Promise<void> => {
    while (next < items.length && performance.now() < deadline) {
      const i = next++;
      const s = performance.now();
      await fn(items[i] as T);
      latencies[done++] = performance.now() - s;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  const seconds = (performance.now() - t0) / 1000;
  return {
    ...rate(done, seconds), concurrency, skipped: items.length - done, latenciesMs: latencies.subarray(0, done), cpuSeconds: ownCpuSeconds(cpu0),
    machineCpuSeconds: machineCpuSeconds() - machine0,
  };
}

/** The p-th percentile (0–100) of the values, nearest rank. */
export function percentile(values: Float64Array, p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? NaN;
}

let clockTicks: number | undefined;

/** Kernel clock ticks per second (USER_HZ), for /proc/PID/stat. */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User + system CPU seconds a process (all its threads) has used, from /proc/PID/stat. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/**
 * User + system CPU seconds of a process and every live descendant (the workers of
 * `shomei-ca serve`), summed from /proc/PID/stat. A process that ended in between is missing.
 */
export function treeCpuSeconds(pid: number): number {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    try {
      total += processCpuSeconds(p);
    } catch {
      continue;
    }
    todo.push(...(children.get(p) ?? []));
  }
  return total;
}

/** Busy CPU seconds of the whole machine since boot (all cores), from /proc/stat. */
export function machineCpuSeconds(): number {
  // cpu  user nice system idle iowait irq softirq steal …: everything but idle and iowait.
  const f = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const busy = f.slice(0, 8).reduce((a, b, i) => (i === 3 || i === 4 ? a : a + b), 0);
  return busy / ticksPerSecond();
}

/** CPU seconds used by this process since `since` (from process.cpuUsage). */
function ownCpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}
