/**
 * Two builds of in-process issuance side by side: `node dist/bench/issuance_ab.js OLD_DIST NEW_DIST`
 * runs, alternately (old, new, old, new …), a child process per build and round that creates a CA of
 * its own (each build migrates its own database), registers users, warms up, then measures
 * EnrollmentService.simpleEnroll with 16 calls in flight (BENCH_AB_INFLIGHT) on the real SQLite store
 * (WAL, synchronous=FULL). Prints CPU per issuance (the child's user + system, from process.cpuUsage),
 * issuances per second and the load average. BENCH_AB_ROUNDS (default 3), BENCH_AB_N (measured
 * issuances, default 2000), BENCH_AB_WARM (default 400); BENCH_AB_PROF=DIR writes a V8 profile of the
 * measured phase there and prints its summary; BENCH_AB_PERF=FILE records it with `perf record -g`. Each child imports the build's own modules, so an old build needs no copy of this file.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { ticksPerSecond } from "./measure.js";
import { stopChild } from "./compare_measure.js";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BenchUser, UserIds } from "./fixtures.js";

const int = (name: string, fallback: number): number => Number(process.env[name] || fallback);

interface ChildResult { readonly ops: number; readonly seconds: number; readonly cpuSeconds: number; readonly mainCpuSeconds: number }

/** CPU seconds (user + system) of this process's main thread, from /proc (its thread id is the process id). */
function mainThreadCpuSeconds(): number {
  const stat = readFileSync(`/proc/${process.pid}/task/${process.pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / ticksPerSecond();
}

interface Enrollment { simpleEnroll(r: { userId: string; passcode: string; csrDer: Uint8Array; remote?: string }): Promise<{ userId: string }> }
interface Services { readonly store: unknown; readonly enrollment: Enrollment; readonly config: { organization: string }; readonly dir: { hmacSecret(): Uint8Array }; close(): Promise<void> }

/** The child: everything from the build in `dist`, measured in this process. */
async function child(dist: string, n: number, warm: number, inFlight: number): Promise<ChildResult> {
  const mod = async <T>(p: string): Promise<T> => (await import(pathToFileURL(join(dist, p)).href)) as T;
  const fx = await mod<{
    createCa(root: string): Promise<unknown>;
    UserIds: new () => UserIds;
    makeUsers(ids: UserIds, n: number): Promise<BenchUser[]>;
    registerUsers(store: unknown, secret: Uint8Array, org: string, users: readonly BenchUser[]): Promise<void>;
  }>("bench/fixtures.js");
  const { openCa } = await mod<{ openCa: (root: string) => Promise<Services> }>("src/server/services.js");
  const root = mkdtempSync(join(tmpdir(), "shomei-issue-ab-"));
  try {
    await fx.createCa(root);
    const s = await openCa(root);
    try {
      const users = await fx.makeUsers(new fx.UserIds(), warm + n);
      await fx.registerUsers(s.store, s.dir.hmacSecret(), s.config.organization, users);
      const run = async (list: readonly BenchUser[]): Promise<void> => {
        let next = 0;
        await Promise.all(Array.from({ length: inFlight }, async () => {
          while (next < list.length) {
            const u = list[next++] as BenchUser;
            const cert = await s.enrollment.simpleEnroll({ userId: u.userId, passcode: u.passcode, csrDer: u.csrDer, remote: "127.0.0.1" });
            if (cert.userId !== u.userId) throw new Error(`enroll ${u.userId}: wrong certificate`);
          }
        }));
      };
      await run(users.slice(0, warm));
      const perf = await startPerf();
      const c0 = process.cpuUsage();
      const m0 = mainThreadCpuSeconds();
      const t0 = performance.now();
      const measured = users.slice(warm);
      const profDir = process.env.BENCH_AB_PROF;
      if (profDir) {
        const { profileThis, summarise } = await import("./profile.js");
        const profile = await profileThis(() => run(measured));
        writeFileSync(join(profDir, `issuance-${process.pid}.cpuprofile`), JSON.stringify(profile));
        const sum = summarise(profile);
        process.stderr.write(`${dist}: self top\n${sum.selfTop.slice(0, 40).map((e) => `  ${(e.share * 100).toFixed(1)}% ${e.name}`).join("\n")}\n`);
        process.stderr.write(`by area\n${sum.byArea.slice(0, 20).map((e) => `  ${(e.share * 100).toFixed(1)}% ${e.name}`).join("\n")}\n`);
        process.stderr.write(`ours inclusive\n${sum.oursInclusive.slice(0, 30).map((e) => `  ${(e.share * 100).toFixed(1)}% ${e.name}`).join("\n")}\n`);
      } else {
        await run(measured);
      }
      const seconds = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      const main = mainThreadCpuSeconds() - m0;
      await stopPerf(perf);
      return { ops: n, seconds, cpuSeconds: (c.user + c.system) / 1e6, mainCpuSeconds: main };
    } finally {
      await s.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** BENCH_AB_PERF=FILE: `perf record -g` of this process during the measured phase only. */
async function startPerf(): Promise<ChildProcess | undefined> {
  const out = process.env.BENCH_AB_PERF;
  if (!out) return undefined;
  const p = spawn("perf", ["record", "-F", "1999", "-g", "-p", String(process.pid), "-o", `${out}.${process.pid}`], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 500));
  return p;
}

function stopPerf(p: ChildProcess | undefined): Promise<void> {
  return p ? stopChild(p, "SIGINT") : Promise.resolve();
}

function runChild(dist: string): Promise<ChildResult> {
  const self = fileURLToPath(import.meta.url);
  const args = [...(process.env.BENCH_AB_PERF ? ["--perf-basic-prof"] : []), self, "--child", resolve(dist)];
  return new Promise((ok, fail) => {
    const p = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => { out += d.toString("utf8"); });
    p.on("exit", (code) => {
      const line = out.trim().split("\n").pop() ?? "";
      if (code !== 0) return fail(new Error(`child for ${dist} exited ${code}: ${out}`));
      ok(JSON.parse(line) as ChildResult);
    });
  });
}

async function main(): Promise<void> {
  const n = int("BENCH_AB_N", 2000);
  const warm = int("BENCH_AB_WARM", 400);
  const inFlight = int("BENCH_AB_INFLIGHT", 16);
  if (process.argv[2] === "--child") {
    const r = await child(process.argv[3] ?? "dist", n, warm, inFlight);
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const builds = process.argv.slice(2);
  if (builds.length < 2) throw new Error("usage: issuance_ab.js OLD_DIST NEW_DIST [MORE…]");
  const rounds = int("BENCH_AB_ROUNDS", 3);
  console.log(`simpleEnroll, ${inFlight} in flight, ${warm} warm-up + ${n} measured, ${rounds} rounds`);
  console.log("round\tbuild\tload1\tper s\tCPU µs each\tmain thread µs each");
  for (let r = 1; r <= rounds; r++) {
    for (const b of builds) {
      const load = loadavg()[0] ?? 0;
      const res = await runChild(b);
      console.log(`${r}\t${b}\t${load.toFixed(1)}\t${Math.round(res.ops / res.seconds)}\t${Math.round((res.cpuSeconds / res.ops) * 1e6)}\t${Math.round((res.mainCpuSeconds / res.ops) * 1e6)}`);
    }
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
