/**
 * 3. EST over HTTPS against a real `shomei-ca serve` process: simpleenroll with HTTP Basic
 * user:passcode, a distinct CSR per request and a NEW TLS connection per request (a fresh
 * https.Agent each time: no keep-alive, no session resumption), at several concurrencies.
 * The server's CPU time comes from /proc/PID/stat; the load generator runs on the same cores.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createSecureContext, type SecureContext } from "node:tls";
import { fileURLToPath } from "node:url";
import type { Profiler } from "node:inspector";
import { openDesk } from "../src/server/services.js";
import type { BenchConfig } from "./config.js";
import { makeUsers, raiseAddressLimit, registerUsers, type BenchUser, type UserIds } from "./fixtures.js";
import { percentile, runItems, treeCpuSeconds, type RunResult } from "./measure.js";
import { stopChild } from "./compare_measure.js";
import { sqliteFileOf, waitPresigned } from "./presigned.js";
import { profileClockUs, summarise, type ProfileSummary } from "./profile.js";

const CLI = fileURLToPath(new URL("../src/cli/shomei-ca.js", import.meta.url));

export interface EstPhase {
  readonly label: string;
  readonly concurrency: number;
  readonly newConnections: boolean;
  readonly result: RunResult;
  readonly ok: number;
  /** Anything but 200 (or a transport error), by status or error code. */
  readonly failures: Readonly<Record<string, number>>;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Server CPU (user + system, all threads) over the phase. */
  readonly serverCpuSeconds: number;
  /** This process's CPU over the phase (the load generator). */
  readonly clientCpuSeconds: number;
}

export interface EstResult {
  readonly phases: readonly EstPhase[];
  readonly profile: ProfileSummary | undefined;
  readonly profileNote: string | undefined;
}

interface Server {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly base: URL;
  /** The end of the server's stderr, for error messages. */
  stderrTail(): string;
}

/** Starts `shomei-ca serve --port 0` and waits for the `EST: https://…` line. */
async function startServer(root: string, nodeArgs: readonly string[] = [], workers = 1): Promise<Server> {
  const proc = spawn(process.execPath, [...nodeArgs, CLI, "serve", "--data", root, "--port", "0", "--lang", "en", "--workers", String(workers)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let tail = "";
  proc.stderr?.on("data", (d: Buffer) => {
    tail = (tail + d.toString("utf8")).slice(-4000);
  });
  const pid = proc.pid;
  if (pid === undefined || !proc.stdout) throw new Error("could not start shomei-ca serve");
  const lines = createInterface({ input: proc.stdout });
  const base = await new Promise<URL>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not print its EST line in 30 s\n${tail}`)), 30_000);
    proc.once("exit", (code) => reject(new Error(`serve exited (${code}) before listening\n${tail}`)));
    lines.on("line", (line) => {
      const m = /^EST: (https:\/\/\S+)/.exec(line);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(new URL(m[1].endsWith("/") ? m[1] : `${m[1]}/`));
      }
    });
  });
  return { proc, pid, base, stderrTail: () => tail };
}

/** SIGTERM, then wait for a clean exit (a --cpu-prof file is written on exit). */
function stopServer(s: Server): Promise<void> {
  return stopChild(s.proc, "SIGTERM", 15_000);
}

interface Reply {
  readonly status: number;
  readonly body: string;
}

function send(url: URL, agent: Agent, method: "GET" | "POST", headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("latin1") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A certs-only PKCS#7 in base64: decodes to a DER SEQUENCE of a plausible size. */
function looksLikeCertsOnly(body: string): boolean {
  const der = Buffer.from(body.replace(/\s+/g, ""), "base64");
  return der.length > 300 && der[0] === 0x30;
}

export async function estBench(cfg: BenchConfig, root: string, ids: UserIds, log: (s: string) => void): Promise<EstResult> {
  const N = cfg.estN;
  const profileN = cfg.profile ? Math.min(N, 800) : 0;
  const warmN = Math.min(400, N);
  const total = cfg.estWorkers.length * (warmN + cfg.estConcurrency.length * N + 2 * N) + (profileN > 0 ? warmN + profileN : 0);

  // Users go in before the server starts (the same SQLite file, opened by the server after).
  log(`  setup: ${total} users with a P-256 key and CSR each…`);
  const desk = await openDesk(root);
  raiseAddressLimit(desk.dir);
  let users: BenchUser[];
  try {
    users = await makeUsers(ids, total);
    await registerUsers(desk.store, desk.dir.hmacSecret(), desk.config.organization, users);
  } finally {
    await desk.close();
  }
  let used = 0;
  const take = (n: number): BenchUser[] => users.slice(used, (used += n));

  // One TLS context with the root as the only trust anchor, shared by every connection.
  const ctx: SecureContext = createSecureContext({ ca: readFileSync(join(root, "ca", "root.pem"), "utf8") });
  const fresh = (): Agent => new Agent({ keepAlive: false, maxCachedSessions: 0, secureContext: ctx });

  const enroll = (base: URL, agentFor: () => Agent, failures: Record<string, number>) => async (u: BenchUser): Promise<void> => {
    const body = u.csrDer.toString("base64");
    try {
      const r = await send(new URL("simpleenroll", base), agentFor(), "POST", {
        "content-type": "application/pkcs10",
        "content-transfer-encoding": "base64",
        "content-length": String(body.length),
        authorization: `Basic ${Buffer.from(`${u.userId}:${u.passcode}`).toString("base64")}`,
      }, body);
      const key = r.status !== 200 ? `HTTP ${r.status}` : looksLikeCertsOnly(r.body) ? "" : "200 but not a certs-only PKCS#7";
      if (key) failures[key] = (failures[key] ?? 0) + 1;
    } catch (e) {
      const key = (e as { code?: string }).code ?? (e instanceof Error ? e.message : String(e));
      failures[key] = (failures[key] ?? 0) + 1;
    }
  };
  const cacerts = (base: URL, failures: Record<string, number>) => async (): Promise<void> => {
    try {
      const r = await send(new URL("cacerts", base), fresh(), "GET", {});
      if (r.status !== 200) failures[`HTTP ${r.status}`] = (failures[`HTTP ${r.status}`] ?? 0) + 1;
    } catch (e) {
      const key = (e as { code?: string }).code ?? String(e);
      failures[key] = (failures[key] ?? 0) + 1;
    }
  };

  const phases: EstPhase[] = [];
  const db = sqliteFileOf(root);
  const measure = async <T>(server: Server, label: string, c: number, newConnections: boolean, items: readonly T[],
    fn: (failures: Record<string, number>) => (item: T) => Promise<void>): Promise<void> => {
    const failures: Record<string, number> = {};
    const cpu0 = treeCpuSeconds(server.pid);
    const result = await runItems(items, c, fn(failures), cfg.maxPhaseSeconds);
    // The supervisor's OCSP pre-signing of the phase's certificates belongs to it (bench/presigned.ts).
    await waitPresigned(db);
    const serverCpuSeconds = treeCpuSeconds(server.pid) - cpu0;
    const clientCpuSeconds = result.cpuSeconds;
    const bad = Object.values(failures).reduce((a, b) => a + b, 0);
    const p: EstPhase = {
      label, concurrency: c, newConnections, result, ok: result.ops - bad, failures,
      p50Ms: percentile(result.latenciesMs, 50), p99Ms: percentile(result.latenciesMs, 99), serverCpuSeconds, clientCpuSeconds,
    };
    phases.push(p);
    log(`  ${label}, c=${c}: ${Math.round(result.perSecond)}/s, ${p.ok}/${result.ops} OK, p50 ${p.p50Ms.toFixed(1)} ms, ` +
      `server CPU ${((serverCpuSeconds / result.ops) * 1000).toFixed(2)} ms/req${bad ? `, FAILURES ${JSON.stringify(failures)}` : ""}`);
  };

  for (const workers of cfg.estWorkers) {
    const w = `${workers} worker${workers === 1 ? "" : "s"}`;
    const server = await startServer(root, [], workers);
    try {
      log(`  server pid ${server.pid} (${w}) at ${server.base.href}`);
      await runItems(take(warmN), 8, enroll(server.base, fresh, {}), cfg.maxPhaseSeconds); // JIT warm-up
      await waitPresigned(db);
      for (const c of cfg.estConcurrency) {
        await measure(server, `simpleenroll, new TLS connection each, ${w}`, c, true, take(N), (f) => enroll(server.base, fresh, f));
      }
      // Two references: the same with keep-alive (no handshakes), and a bare handshake + GET.
      const keepAlive = new Agent({ keepAlive: true, maxSockets: 8, secureContext: ctx });
      await measure(server, `simpleenroll, keep-alive (reference), ${w}`, 8, false, take(N), (f) => enroll(server.base, () => keepAlive, f));
      keepAlive.destroy();
      await measure(server, `GET cacerts, new TLS connection each (reference), ${w}`, 8, true, Array.from({ length: N }, (_, i) => i), (f) => cacerts(server.base, f));
    } finally {
      await stopServer(server);
    }
  }

  // A separate, profiled server (--cpu-prof) so profiling overhead stays out of the numbers above.
  let profile: ProfileSummary | undefined;
  let profileNote: string | undefined;
  if (profileN > 0) {
    const profDir = mkdtempSync(join(root, "cpuprof-"));
    // One worker: its profile is the largest file (the supervisor's is nearly empty).
    const profiled = await startServer(root, ["--cpu-prof", `--cpu-prof-dir=${profDir}`, "--cpu-prof-interval=200"], 1);
    let from = 0;
    try {
      await runItems(take(warmN), 8, enroll(profiled.base, fresh, {}), cfg.maxPhaseSeconds);
      from = profileClockUs(); // start-up and warm-up are left out of the summary
      await runItems(take(profileN), 8, enroll(profiled.base, fresh, {}), cfg.maxPhaseSeconds);
    } finally {
      await stopServer(profiled);
    }
    const file = readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile"))
      .sort((a, b) => statSync(join(profDir, b)).size - statSync(join(profDir, a)).size)[0];
    if (file) {
      profile = summarise(JSON.parse(readFileSync(join(profDir, file), "utf8")) as Profiler.Profile, 15, from);
      profileNote = `${profileN} enrollments at 8 concurrent clients, new TLS connection each, after ${warmN} for warm-up; ` +
        "the server's main thread (TLS handshakes included, they run there). In this --cpu-prof profile, C++ called from a " +
        "JavaScript function is mostly counted to that function: executeQuery's self time is SQLite (fsync included)";
      log(`  profiled the server over ${profileN} enrollments`);
    } else {
      profileNote = "no .cpuprofile was written (the server did not exit cleanly)";
    }
    rmSync(profDir, { recursive: true, force: true });
  }
  return { phases, profile, profileNote };
}
