/**
 * V8 CPU profiles: taking one of this process (inspector) and summarising one (ours or a
 * `--cpu-prof` file of the server) into self time by function and by package, and inclusive
 * time of Shomei's own functions. V8 samples the main thread on a wall-clock timer, so a
 * function blocked in a system call (SQLite's fsync) collects samples too: profile time is
 * main-thread busy time, not CPU time.
 */
import { Session, type Profiler } from "node:inspector/promises";

export interface ProfileEntry {
  readonly name: string;
  readonly ms: number;
  readonly share: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  /** Functions by self time (where the CPU actually was). */
  readonly selfTop: readonly ProfileEntry[];
  /** Packages / areas by self time. */
  readonly byArea: readonly ProfileEntry[];
  /** Shomei's own functions by inclusive time (self + callees). */
  readonly oursInclusive: readonly ProfileEntry[];
}

/** Profiles `fn` in this process with the given sampling interval (µs). */
export async function profileThis(fn: () => Promise<void>, intervalUs = 100): Promise<Profiler.Profile> {
  const session = new Session();
  session.connect();
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: intervalUs });
    await session.post("Profiler.start");
    const failure = await fn().then(() => undefined, (e: unknown) => ({ e }));
    const { profile } = await session.post("Profiler.stop");
    if (failure) throw failure.e;
    return profile;
  } finally {
    session.disconnect();
  }
}

const OWN = /\/dist\/(src\/.*)$/;

/** Which package or area a script URL belongs to. */
function areaOf(url: string): string {
  const nm = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (nm?.[1]) return nm[1];
  const own = OWN.exec(url);
  if (own?.[1]) return `shomei ${own[1].replace(/\/[^/]*$/, "/")}`;
  if (url.startsWith("node:")) return `node core: ${url.slice(5).split("/").slice(0, 2).join("/")}`;
  return url;
}

function frameName(f: Profiler.ProfileNode["callFrame"]): string {
  const fn = f.functionName || "(anonymous)";
  if (f.url === "") return fn;
  const nm = /\/node_modules\/(.*)$/.exec(f.url);
  const own = OWN.exec(f.url);
  const file = nm?.[1] ?? own?.[1] ?? f.url.replace(/^file:\/\//, "");
  return `${fn} (${file}:${f.lineNumber + 1})`;
}

function top(map: Map<string, number>, totalMs: number, n: number): ProfileEntry[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, ms]) => ({ name, ms, share: ms / totalMs }));
}

const add = (m: Map<string, number>, k: string, v: number): void => {
  m.set(k, (m.get(k) ?? 0) + v);
};

/** Now on V8's profile clock (CLOCK_MONOTONIC in µs, the same in every process on the machine). */
export function profileClockUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Summarises a profile, leaving out "(idle)" and every sample taken before `fromUs`
 * (profileClockUs(): skips start-up and warm-up in a whole-process --cpu-prof).
 */
export function summarise(p: Profiler.Profile, n = 15, fromUs = 0): ProfileSummary {
  const byId = new Map<number, Profiler.ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of p.nodes) {
    byId.set(node.id, node);
    for (const c of node.children ?? []) parent.set(c, node.id);
  }
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  const self = new Map<string, number>();
  const area = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let totalMs = 0;
  let clock = p.startTime;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the following delta to sample i.
    clock += deltas[i] ?? 0;
    const ms = (deltas[i + 1] ?? 0) / 1000;
    const node = byId.get(samples[i] ?? -1);
    if (clock < fromUs || !node || node.callFrame.functionName === "(idle)") continue;
    totalMs += ms;
    // C++ reached from JavaScript (OpenSSL, SQLite, I/O) has no URL: name it by its caller.
    const f = node.callFrame;
    const native = f.url === "" && !f.functionName.startsWith("(");
    const caller = native ? byId.get(parent.get(node.id) ?? -1)?.callFrame : undefined;
    add(self, native ? `${f.functionName || "(anonymous)"} [native] ← ${caller ? frameName(caller) : "?"}` : frameName(f), ms);
    add(area, native ? `native, called from ${caller ? areaOf(caller.url) : "?"}` : f.url === "" ? f.functionName : areaOf(f.url), ms);
    // Inclusive time of our own functions: each function once per sample, however deep.
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)?.callFrame;
      if (f && OWN.test(f.url)) {
        const key = frameName(f);
        if (!seen.has(key)) {
          seen.add(key);
          add(inclusive, key, ms);
        }
      }
    }
  }
  return { totalMs, selfTop: top(self, totalMs, n), byArea: top(area, totalMs, n), oursInclusive: top(inclusive, totalMs, n) };
}
