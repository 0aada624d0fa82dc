/**
 * Two builds of EST side by side: `node dist/bench/est_ab.js OLD_DIST NEW_DIST` prepares one CA
 * data folder with registered users (a one-time passcode and a P-256 CSR each), copies it for the
 * second build, starts `serve --workers 1` (BENCH_AB_WORKERS; `1,2` gives the old build 1 and the new 2, to
 * compare worker counts with one build; BENCH_AB_OLD_NODE_OPTIONS and BENCH_AB_NEW_NODE_OPTIONS are
 * NODE_OPTIONS for one side's server only, to try V8 flags) of each build on its own copy, and
 * sends the same rows to each, alternately (old, new, old, new …), with the wrk window of
 * bench:compare (bench/est_wrk.ts: a new TLS connection and a full handshake per enrollment,
 * Connection: close). Prints the server's CPU per enrollment (its process tree's utime + stime
 * from /proc), box rate, p50/p99, wrk's CPU and the load average. For developing the EST hot path
 * (the lead's figures come from bench:compare).
 *
 * BENCH_AB_N enrollments per window (1000), BENCH_COMPARE_ROUNDS rounds (3), BENCH_COMPARE_EST_C
 * connections (32), BENCH_AB_WARM unmeasured enrollments per build first (300);
 * BENCH_AB_PERF=DIR records `perf record -g` of each build's process tree per window into DIR
 * (the servers started with --perf-basic-prof so JavaScript frames have names).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { DataDir } from "../src/server/data_dir.js";
import { openDesk } from "../src/server/services.js";
import { processTree, stopChild, type Window } from "./compare_measure.js";
import { buildWrkTools, estWrkWindow, type CaFiles } from "./est_wrk.js";
import { sqliteFileOf } from "./presigned.js";
import { createCa, makeUsers, raiseAddressLimit, registerUsers, UserIds, type BenchUser } from "./fixtures.js";

const int = (name: string, fallback: number): number => Number(process.env[name] || fallback);

interface Server { readonly label: string; readonly pid: number; readonly est: URL; readonly workers: string; readonly child: ChildProcess; readonly db: string }

async function serve(dist: string, root: string, label: string, perf: boolean, workers: string, nodeOptions = ""): Promise<Server> {
  const cli = join(resolve(dist), "src/cli/shomei-ca.js");
  const child = spawn(process.execPath, [...(perf ? ["--perf-basic-prof"] : []), cli, "serve", "--data", root, "--host", "127.0.0.1", "--port", "0", "--lang", "en", "--workers", workers], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LANG: "en_US.UTF-8", ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) },
  });
  let tail = "";
  child.stderr?.on("data", (d: Buffer) => { tail = (tail + d.toString("utf8")).slice(-4000); });
  const got = await new Promise<{ est: string; workers: string }>((ok, fail) => {
    let est = "";
    const timer = setTimeout(() => fail(new Error(`${label} did not start\n${tail}`)), 60_000);
    child.once("exit", (code) => { clearTimeout(timer); fail(new Error(`${label} exited (${code})\n${tail}`)); });
    createInterface({ input: child.stdout ?? process.stdin }).on("line", (line) => {
      est = /^EST: (https:\/\/\S+)$/.exec(line)?.[1] ?? est;
      const w = /^Workers: (.*)$/.exec(line);
      if (w && est) {
        clearTimeout(timer);
        ok({ est, workers: w[1] ?? "" });
      }
    });
  });
  return { label, pid: child.pid ?? -1, est: new URL(`${got.est}/`), workers: got.workers, child, db: sqliteFileOf(root) };
}

/** `perf record -g` of the server's process tree until the returned function is called. */
function perfRecord(s: Server, out: string): () => Promise<void> {
  const p = spawn("perf", ["record", "-g", "-F", "1999", "-o", out, "-p", processTree(s.pid).join(",")], { stdio: "ignore" });
  return () => stopChild(p, "SIGINT");
}

async function main(): Promise<void> {
  const [oldDist, newDist] = process.argv.slice(2);
  if (!oldDist || !newDist) throw new Error("usage: est_ab.js OLD_DIST NEW_DIST");
  const n = int("BENCH_AB_N", 1000);
  const rounds = int("BENCH_COMPARE_ROUNDS", 3);
  const clients = int("BENCH_COMPARE_EST_C", 32);
  const warm = int("BENCH_AB_WARM", 300);
  const perf = process.env.BENCH_AB_PERF;
  if (perf) mkdirSync(perf, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "shomei-est-ab-"));
  const roots = [join(work, "old"), join(work, "new")];
  const servers: Server[] = [];
  try {
    const [rootA = "", rootB = ""] = roots;
    await createCa(rootA);
    const dir = new DataDir(rootA);
    raiseAddressLimit(dir);
    const users = await makeUsers(new UserIds(), warm + rounds * n);
    const desk = await openDesk(rootA);
    try {
      await registerUsers(desk.store, desk.dir.hmacSecret(), desk.config.organization, users);
    } finally {
      await desk.close();
    }
    cpSync(rootA, rootB, { recursive: true });
    const ca: CaFiles = { root: join(rootA, "ca", "root.pem"), issuing: dir.issuingCert };
    const tools = await buildWrkTools(work);
    const [oldWorkers = "1", newWorkers = oldWorkers] = (process.env.BENCH_AB_WORKERS || "1").split(",");
    servers.push(await serve(oldDist, rootA, `old (${oldDist})`, Boolean(perf), oldWorkers, process.env.BENCH_AB_OLD_NODE_OPTIONS));
    servers.push(await serve(newDist, rootB, `new (${newDist})`, Boolean(perf), newWorkers, process.env.BENCH_AB_NEW_NODE_OPTIONS));
    for (const s of servers) process.stdout.write(`${s.label}: EST ${s.est.href}, workers ${s.workers}\n`);
    const window = async (s: Server, batch: readonly BenchUser[], tag: string): Promise<Window> => {
      const r = await estWrkWindow(s.pid, s.est, batch, clients, 120, tools, work, tag, ca, s.db);
      const c = r.check;
      if (c.issued !== c.ok || c.verify !== "OK" || !c.ownUser || c.socketErrors > 0 || c.ok !== batch.length) {
        throw new Error(`${s.label} ${tag}: ${c.ok} of ${batch.length} answered 200, ${c.issued} issued, verify ${c.verify}, own user ${String(c.ownUser)}, ${c.socketErrors} socket errors, statuses ${c.statuses}; ${c.firstBad ?? ""}`);
      }
      return r.window;
    };
    for (const [i, s] of servers.entries()) if (warm > 0) await window(s, users.slice(0, warm), `warm-${i}`);
    const totals = servers.map(() => ({ ops: 0, cpu: 0, client: 0 }));
    for (let round = 1; round <= rounds; round++) {
      const batch = users.slice(warm + (round - 1) * n, warm + round * n);
      for (const [i, s] of servers.entries()) {
        const stopPerf = perf ? perfRecord(s, join(perf, `${i === 0 ? "old" : "new"}-${round}.data`)) : undefined;
        const load = loadavg()[0] ?? 0;
        const w = await window(s, batch, `${i}-${round}`);
        await stopPerf?.();
        const t = totals[i] ?? { ops: 0, cpu: 0, client: 0 };
        t.ops += w.ops;
        t.cpu += w.serverCpu;
        t.client += w.clientCpu;
        process.stdout.write(`round ${round} ${s.label.padEnd(34)} ${(w.ops / w.seconds).toFixed(0).padStart(5)}/s  server ${((1000 * w.serverCpu) / w.ops).toFixed(3)} ms/op (supervisor ${((1000 * w.rootCpu) / w.ops).toFixed(3)})  wrk ${((1000 * w.clientCpu) / w.ops).toFixed(3)} ms/op  p50 ${w.p50?.toFixed(1)} p99 ${w.p99?.toFixed(1)} ms  load ${load.toFixed(2)}→${(loadavg()[0] ?? 0).toFixed(2)}\n`);
      }
    }
    process.stdout.write("\nall rounds:\n");
    for (const [i, s] of servers.entries()) {
      const t = totals[i] ?? { ops: 0, cpu: 0, client: 0 };
      process.stdout.write(`${s.label.padEnd(34)} server ${((1000 * t.cpu) / t.ops).toFixed(3)} ms/op, wrk ${((1000 * t.client) / t.ops).toFixed(3)} ms/op (${t.ops} enrollments)\n`);
    }
  } finally {
    for (const s of servers) await stopChild(s.child);
    if (process.env.BENCH_KEEP === "1") process.stdout.write(`Work folder kept: ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }
}

await main();
