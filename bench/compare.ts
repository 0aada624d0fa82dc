/**
 * `npm run bench:compare`: Shomei's portal and EST side by side with the anchors, in one run, on
 * the same keys, driven by the same C clients:
 * - `shomei-ca serve` with the default workers (one per core) and with `--workers 1`;
 * - nginx (Debian nginx-light, 2 worker processes) serving the portal's login page as a static
 *   file over TLS 1.3 with the same server certificate and key, asking for a client
 *   certificate from the same client CAs (ssl_verify_client on);
 * - a bare Node `https` server with the portal's TLS options and `requestCert` (the floor for a
 *   portal that terminates TLS itself), in one process (the floor of `--workers 1`) and in two
 *   processes sharing the socket as serve's workers do (the floor of the default workers).
 * Each operation is measured for every target in turn, the round repeated (A, B, C, D, A, B …),
 * so noise from the shared machine falls on all of them. Server CPU is the whole process tree's
 * utime + stime from /proc; the load generators' CPU is reported beside it.
 *
 * EST enrollments are sent by wrk (bench/est_wrk.lua: one pre-made row, a registered user with
 * its one-time passcode and a CSR, per request; Connection: close) with bench/wrk_fresh_tls.c
 * preloaded so every connection is a full TLS handshake and each enrollment is timed whole; a
 * check against a handshake-counting Node server proves it before the windows. Their floor is
 * bare Node with the EST listener's TLS options answering a fixed certs-only answer, in one and
 * two processes, driven by the same wrk with the same rows. A smaller window
 * with the Node load generator this file had before is kept as a cross-check.
 *
 * Writes its section of docs/benchmarks.md (between the bench:compare markers; the rest of the
 * file is left as it is). A benchmark, not a test: it fails only when something did not work.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Profiler } from "node:inspector";
import { Agent, request } from "node:https";
import { availableParallelism, cpus, loadavg, release, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { connect as tlsConnect, createSecureContext } from "node:tls";
import { fileURLToPath } from "node:url";
import { buildCsr } from "../src/pki/csr.js";
import { keyObjectSigner } from "../src/pki/keys.js";
import { toPem } from "../src/pki/pem.js";
import { readCertsOnly } from "../src/pki/pkcs7.js";
import { generatePasscode, passcodeHash } from "../src/registration/passcode.js";
import { hashPassword } from "../src/registration/password.js";
import { DataDir } from "../src/server/data_dir.js";
import { openDesk } from "../src/server/services.js";
import { SESSION_COOKIE } from "../src/web/portal.js";
import { freePort } from "../test/helpers/ports.js";
import { ab, measured, readAb, readSTime, runCommand, sTime, stopChild, wrkEst, type TlsClient, type Window, type WrkTools } from "./compare_measure.js";
import { buildWrkTools, estWrkWindow, wrkWindow, type CaFiles, type EstWindowCheck } from "./est_wrk.js";
import type { TlsCounters } from "./compare_floor.js";
import { BENCH_ADDRESS_LIMIT, createCa, freshP256, makeUsers, raiseAddressLimit, registerUsers, UserIds, type BenchUser } from "./fixtures.js";
import { COMPARE_BEGIN, COMPARE_END, spliceSection } from "./doc_section.js";
import { percentile, runItems } from "./measure.js";
import { copyDataFolder, sqliteFileOf, waitPresigned } from "./presigned.js";
import { profileClockUs, summarise, type ProfileEntry, type ProfileSummary } from "./profile.js";

const CLI = fileURLToPath(new URL("../src/cli/shomei-ca.js", import.meta.url));
const FLOOR = fileURLToPath(new URL("./compare_floor.js", import.meta.url));
const DEFAULT_OUT = fileURLToPath(new URL("../../docs/benchmarks.md", import.meta.url));
const NGINX = process.env.BENCH_NGINX || "/usr/sbin/nginx";
const DAY = 86_400_000;

function int(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name}: a whole number >= ${min} expected, got "${raw}"`);
  return v;
}

interface CompareConfig {
  /** Seconds per measured window (BENCH_SECONDS). */
  readonly seconds: number;
  /** Rounds over all targets per operation (BENCH_COMPARE_ROUNDS). */
  readonly rounds: number;
  /** Parallel clients (BENCH_COMPARE_CLIENTS): s_time processes, ab connections. */
  readonly clients: number;
  /** ab processes sharing the clients (BENCH_COMPARE_AB_PROCS): one ab uses at most one core. */
  readonly abProcesses: number;
  /**
   * Enrollments per Shomei target sent by wrk, split over the rounds (BENCH_COMPARE_EST_N); clients
   * in flight (BENCH_COMPARE_EST_C); enrollments per target of the Node load generator's
   * cross-check (BENCH_COMPARE_EST_NODE_N, 0 leaves it out).
   */
  readonly estN: number;
  readonly estClients: number;
  readonly estNodeN: number;
  /**
   * Unmeasured work per target before its windows, so a server is measured as it runs for days, not
   * while V8 still compiles it: seconds of each portal load (BENCH_COMPARE_WARM_SECONDS, default the
   * window's length) and EST enrollments by wrk (BENCH_COMPARE_EST_WARM, default 8,000). With 300
   * enrollments, V8's compiler threads still took 13.6 % of the EST server's CPU in the first window
   * and about 5 % in later ones (perf, 2026-12-06). With 2,000 and the default 2 workers (1,000
   * each), its optimizing compiler still took 9.9 % of the first window of 3,000, then 3.5, 3.8,
   * 2.8, 1.5 and 1.5 % of the next five (perf, 09:52 UTC).
   */
  readonly warmSeconds: number;
  readonly estWarm: number;
  /** Profile a worker under each portal load afterwards (BENCH_PROFILE=0 skips it). */
  readonly profile: boolean;
}

function loadCompareConfig(): CompareConfig {
  return {
    seconds: int("BENCH_SECONDS", 5), rounds: int("BENCH_COMPARE_ROUNDS", 2), clients: int("BENCH_COMPARE_CLIENTS", 8),
    abProcesses: int("BENCH_COMPARE_AB_PROCS", 2), estN: int("BENCH_COMPARE_EST_N", 4000), estClients: int("BENCH_COMPARE_EST_C", 32),
    estNodeN: int("BENCH_COMPARE_EST_NODE_N", 1000, 0),
    warmSeconds: int("BENCH_COMPARE_WARM_SECONDS", int("BENCH_SECONDS", 5)), estWarm: int("BENCH_COMPARE_EST_WARM", 8000, 0),
    profile: process.env.BENCH_PROFILE !== "0",
  };
}

type TargetKind = "shomei" | "nginx" | "node";

interface Target {
  readonly key: string;
  readonly label: string;
  readonly kind: TargetKind;
  readonly pid: number;
  readonly processes: () => string;
  readonly portalPort: number;
  /** EST base (Shomei only). */
  readonly estBase?: URL;
  /** serve's workers (Shomei only). */
  readonly workerPids?: readonly number[];
  /** Its own SQLite file (Shomei only; each instance has a copy of the data folder, bench/presigned.ts). */
  readonly db?: string;
  stop(): Promise<void>;
}

/** Waits for a line of the child's stdout matching `re`; fails when it exits first. */
function waitForLine(child: ChildProcess, re: RegExp, what: string, tail: () => string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in 60 s\n${tail()}`)), 60_000);
    child.once("exit", (code) => { clearTimeout(timer); reject(new Error(`${what} exited (${code})\n${tail()}`)); });
    if (!child.stdout) return reject(new Error(`${what}: no stdout`));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = re.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
  });
}

function stopper(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): () => Promise<void> {
  return () => stopChild(child, signal);
}

/** serve prints EST:, Portal: and Workers: lines; this reads all three. */
async function serveShomei(root: string, workers: number | undefined, key: string, label: string, nodeArgs: readonly string[] = []): Promise<Target> {
  const child = spawn(process.execPath, [...nodeArgs, CLI, "serve", "--data", root, "--host", "127.0.0.1", "--port", "0", "--lang", "en", ...(workers ? ["--workers", String(workers)] : [])], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LANG: "en_US.UTF-8" },
  });
  let tail = "";
  child.stderr?.on("data", (d: Buffer) => { tail = (tail + d.toString("utf8")).slice(-4000); });
  const got = await new Promise<{ est: string; portal: string; workers: number; pids: number[] }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in 60 s\n${tail}`)), 60_000);
    child.once("exit", (code) => { clearTimeout(timer); reject(new Error(`serve exited (${code})\n${tail}`)); });
    let est = "";
    let portal = "";
    if (!child.stdout) return reject(new Error("serve: no stdout"));
    createInterface({ input: child.stdout }).on("line", (line) => {
      est = /^EST: (https:\/\/\S+)$/.exec(line)?.[1] ?? est;
      portal = /^Portal: (https:\/\/\S+?)\/?$/.exec(line)?.[1] ?? portal;
      const w = /^Workers: (\d+) \(PID ([\d, ]+)\)$/.exec(line);
      if (w && est && portal) {
        clearTimeout(timer);
        resolve({ est, portal, workers: Number(w[1]), pids: (w[2] ?? "").split(", ").map(Number) });
      }
    });
  });
  if (child.pid === undefined) throw new Error("serve: no pid");
  return {
    key, label: `${label} (${got.workers} worker${got.workers > 1 ? "s" : ""})`, kind: "shomei", pid: child.pid,
    processes: () => `supervisor + ${got.workers} worker${got.workers > 1 ? "s" : ""}`,
    portalPort: Number(new URL(got.portal).port), estBase: new URL(`${got.est}/`), stop: stopper(child), workerPids: got.pids,
    db: sqliteFileOf(root),
  };
}

async function startNginx(dir: string, files: { cert: string; key: string; clientCa: string; page: string }, workers: number): Promise<Target> {
  const port = await freePort();
  const prefix = join(dir, "nginx");
  mkdirSync(join(prefix, "logs"), { recursive: true });
  mkdirSync(join(prefix, "html"), { recursive: true });
  writeFileSync(join(prefix, "html", "index.html"), readFileSync(files.page));
  const conf = join(prefix, "nginx.conf");
  writeFileSync(conf, `daemon off;
master_process on;
worker_processes ${workers};
pid ${join(prefix, "nginx.pid")};
error_log ${join(prefix, "logs", "error.log")} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(prefix, "client_body")};
  proxy_temp_path ${join(prefix, "proxy")};
  fastcgi_temp_path ${join(prefix, "fastcgi")};
  uwsgi_temp_path ${join(prefix, "uwsgi")};
  scgi_temp_path ${join(prefix, "scgi")};
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${files.cert};
    ssl_certificate_key ${files.key};
    ssl_client_certificate ${files.clientCa};
    ssl_verify_client on;
    ssl_verify_depth 2;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    root ${join(prefix, "html")};
    default_type "text/html; charset=utf-8";
    location / { try_files /index.html =404; }
  }
}
`);
  const child = spawn(NGINX, ["-p", prefix, "-c", conf, "-e", join(prefix, "logs", "error.log")], { stdio: ["ignore", "pipe", "pipe"] });
  let tail = "";
  child.stderr?.on("data", (d: Buffer) => { tail = (tail + d.toString("utf8")).slice(-4000); });
  if (child.pid === undefined) throw new Error(`cannot start ${NGINX}`);
  // nginx prints nothing when it is ready: wait until the port answers.
  const end = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode})\n${tail}`);
    const r = await runCommand("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-brief"]).catch(() => undefined);
    if (r && /Protocol version/.test(r.stderr + r.stdout)) break;
    if (Date.now() > end) throw new Error(`nginx does not answer on ${port}\n${tail}`);
    await new Promise((res) => setTimeout(res, 200));
  }
  return { key: "nginx", label: `nginx ${workers} workers, static page`, kind: "nginx", pid: child.pid, processes: () => `master + ${workers} workers`, portalPort: port, stop: stopper(child, "SIGQUIT") };
}

async function startFloor(dir: string, o: { key: string; cert: string; ca: readonly string[]; page: string; countHandshakes?: boolean; workers?: number; est?: boolean }): Promise<Target> {
  const workers = o.workers ?? 1;
  const file = join(dir, o.countHandshakes ? "probe.json" : `floor-${o.est ? "est-" : ""}${workers}.json`);
  writeFileSync(file, JSON.stringify({ ...o, host: "127.0.0.1" }));
  const child = spawn(process.execPath, [FLOOR, file], { stdio: ["ignore", "pipe", "pipe"] });
  let tail = "";
  child.stderr?.on("data", (d: Buffer) => { tail = (tail + d.toString("utf8")).slice(-4000); });
  const m = await waitForLine(child, /^listening (\d+)$/, "bare Node https", () => tail);
  if (!m || child.pid === undefined) throw new Error("bare Node https did not start");
  const what = o.est ? "bare Node https, fixed EST answer" : "bare Node https, requestCert, fixed page";
  const label = o.countHandshakes ? "bare Node https counting handshakes (check)" : workers > 1 ? `${what}, ${workers} processes` : what;
  const key = o.countHandshakes ? "probe" : `${o.est ? "est-" : ""}node${workers > 1 ? `-${workers}` : ""}`;
  const processes = workers > 1 ? `primary + ${workers} (cluster, SCHED_NONE)` : "1 process";
  const port = Number(m[1]);
  return {
    key, label, kind: "node", pid: child.pid, processes: () => processes, portalPort: port, stop: stopper(child),
    ...(o.est ? { estBase: new URL(`https://127.0.0.1:${port}/.well-known/est/`) } : {}),
  };
}

interface WorkerProfile {
  readonly what: string;
  readonly summary: ProfileSummary | undefined;
}

/**
 * A separate `serve --workers 1` under --cpu-prof (so profiling stays out of the figures above),
 * loaded with `load` after a warm-up; the worker's profile from the end of the warm-up on.
 */
async function profileWorker(root: string, work: string, what: string, load: (t: Target) => Promise<unknown>): Promise<WorkerProfile> {
  const dir = mkdtempSync(join(work, "prof-"));
  const t = await serveShomei(root, 1, "profile", "profiled", ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-interval=200"]);
  let from = 0;
  try {
    await load(t);
    from = profileClockUs();
    await load(t);
  } finally {
    await t.stop();
  }
  const pid = t.workerPids?.[0] ?? -1;
  const file = readdirSync(dir).find((f) => f.includes(`.${pid}.`) && f.endsWith(".cpuprofile"));
  return { what, summary: file ? summarise(JSON.parse(readFileSync(join(dir, file), "utf8")) as Profiler.Profile, 12, from) : undefined };
}

function renderProfile(p: WorkerProfile): string {
  if (!p.summary) return `#### ${p.what}

No profile was written (the worker did not exit cleanly).
`;
  const rows = (list: readonly ProfileEntry[]): string[][] => list.map((e) => [`\`${e.name}\``, int0(e.ms), `${Math.round(e.share * 100)} %`]);
  return `#### ${p.what}

${int0(p.summary.totalMs)} ms of main-thread samples (the worker's JavaScript thread: TLS handshakes run there too; V8 samples on a
wall-clock timer, so time blocked in a system call counts). [native] marks C++ reached from JavaScript, named with its caller.

${table(["area (self time)", "ms", "share"], rows(p.summary.byArea.slice(0, 8)))}

${table(["hottest functions (self time)", "ms", "share"], rows(p.summary.selfTop.slice(0, 10)))}

${table(["Shomei's own functions (inclusive)", "ms", "share"], rows(p.summary.oursInclusive.slice(0, 8)))}
`;
}

interface Reply { readonly status: number; readonly headers: Record<string, string | string[] | undefined>; readonly body: string }

function httpsOnce(url: URL, o: { method?: string; headers?: Record<string, string>; body?: string; cert?: string; key?: string; ca: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: o.method ?? "GET", headers: o.headers ?? {}, ca: o.ca, agent: false, ...(o.cert && o.key ? { cert: o.cert, key: o.key } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(o.body);
  });
}

/** Logs in through the portal's form (GET / for the token, POST /login); returns the Cookie header value. */
async function logIn(portal: URL, user: string, password: string, tls: { cert: string; key: string; ca: string }): Promise<string> {
  const page = await httpsOnce(new URL("/", portal), { ...tls, headers: { "accept-language": "en" } });
  const csrf = /name="csrf" value="([^"]*)"/.exec(page.body)?.[1];
  if (page.status !== 200 || !csrf) throw new Error(`login page: ${page.status} ${page.body.slice(0, 300)}`);
  const r = await httpsOnce(new URL("/login", portal), {
    ...tls, method: "POST", body: new URLSearchParams({ csrf, userId: user, password }).toString(),
    headers: { "content-type": "application/x-www-form-urlencoded", "accept-language": "en" },
  });
  const set = ([] as string[]).concat(r.headers["set-cookie"] ?? []);
  const session = set.map((c) => c.split(";")[0] ?? "").find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  if (r.status !== 303 || r.headers.location !== "/me" || !session) throw new Error(`login: ${r.status} ${String(r.headers.location)} ${r.body.slice(0, 300)}`);
  return session;
}


/** simpleenroll with a new TLS connection each (no resumption), `clients` in flight. */
async function estRun(t: Target, users: readonly BenchUser[], clients: number, caPem: string, maxSeconds: number): Promise<Window> {
  const ctx = createSecureContext({ ca: caPem });
  const base = t.estBase ?? new URL("https://invalid/");
  const db = t.db;
  let failures = 0;
  let lat: Float64Array = new Float64Array(0);
  const w = await measured(t.pid, [async () => {
    const r = await runItems(users, clients, async (u) => {
      const status = await new Promise<number>((resolve) => {
        const req = request(new URL("simpleenroll", base), {
          method: "POST", agent: new Agent({ keepAlive: false, maxCachedSessions: 0, secureContext: ctx }),
          headers: { "content-type": "application/pkcs10", authorization: `Basic ${Buffer.from(`${u.userId}:${u.passcode}`).toString("base64")}` },
        }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
          res.on("error", () => resolve(0));
        });
        req.on("error", () => resolve(0));
        req.end(u.csrDer.toString("base64"));
      });
      if (status !== 200) failures += 1;
    }, maxSeconds);
    lat = r.latenciesMs;
    return r.ops;
  }], (outs) => ({ ops: (outs[0] ?? 0) - failures, failures }), true, db ? () => waitPresigned(db) : undefined);
  return { ...w, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

/** What each wrk EST window was checked against, and on which target. */
interface EstCheck extends EstWindowCheck {
  readonly target: Target;
}

/** One wrk window of simpleenroll on a target (bench/est_wrk.ts). */
async function estWrkRun(t: Target, users: readonly BenchUser[], clients: number, maxSeconds: number, tools: WrkTools, work: string, tag: string, ca: CaFiles): Promise<{ window: Window; check: EstCheck }> {
  if (!t.db) throw new Error(`${t.label}: no database to check`);
  const r = await estWrkWindow(t.pid, t.estBase ?? new URL("https://invalid/"), users, clients, maxSeconds, tools, work, tag, ca, t.db);
  return { window: r.window, check: { ...r.check, target: t } };
}

async function tlsCounters(probe: Target, ca: string): Promise<TlsCounters> {
  const r = await httpsOnce(new URL(`https://127.0.0.1:${probe.portalPort}/.tls-counters`), { ca });
  return JSON.parse(r.body) as TlsCounters;
}

/** What wrk did to a Node https server that counts its handshakes, with the library and without. */
interface WrkTlsCheck {
  readonly rows: number;
  readonly fresh: TlsCounters;
  readonly alone: TlsCounters;
}

/**
 * Runs est_wrk.lua against the counting server twice (with wrk_fresh_tls.so, then wrk alone) and
 * returns the handshakes each run made (the counter read itself taken off). Fails when a request
 * was not on a full TLS 1.3 handshake of its own.
 */
async function wrkTlsCheck(probe: Target, tools: WrkTools, work: string, clients: number, ca: string): Promise<WrkTlsCheck> {
  const n = 400;
  const rows = join(work, "probe.rows");
  writeFileSync(rows, Array.from({ length: n }, (_, i) => `p${i} ${Buffer.from(`p${i}:passcode`).toString("base64")} MIIprobe${i}\n`).join(""));
  const once = async (t: WrkTools): Promise<TlsCounters> => {
    const a = await tlsCounters(probe, ca);
    const r = await wrkEst(new URL(`https://127.0.0.1:${probe.portalPort}/`), rows, join(work, "probe.sample"), clients, 60, t);
    if (r.answered !== n || r.socketErrors > 0) throw new Error(`wrk against the counting server: ${r.answered} of ${n} answered, ${r.socketErrors} socket errors`);
    const b = await tlsCounters(probe, ca);
    const protocols: Record<string, number> = {};
    for (const [p, c] of Object.entries(b.protocols)) protocols[p] = c - (a.protocols[p] ?? 0) - (p === "TLSv1.3" ? 1 : 0);
    return { handshakes: b.handshakes - a.handshakes - 1, resumed: b.resumed - a.resumed, requests: b.requests - a.requests, protocols };
  };
  const fresh = await once(tools);
  const alone = await once({ ...tools, freshTls: undefined });
  const only13 = Object.entries(fresh.protocols).every(([p, c]) => p === "TLSv1.3" || c === 0);
  if (fresh.resumed !== 0 || fresh.requests !== n || fresh.handshakes < n || !only13) {
    throw new Error(`wrk with ${tools.freshTls ?? "?"} did not make one full TLS 1.3 handshake per request: ${JSON.stringify(fresh)}`);
  }
  return { rows: n, fresh, alone };
}

/** Whether a Node TLS client that kept the server's ticket gets its session resumed on its next connection (TLS 1.3). */
async function resumesSession(port: number, ca: string): Promise<string> {
  const ticket = await new Promise<Buffer | undefined>((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ca, minVersion: "TLSv1.3" });
    const timer = setTimeout(() => { s.destroy(); resolve(undefined); }, 5000);
    s.once("session", (b: Buffer) => { clearTimeout(timer); s.end(); resolve(b); });
    s.once("error", (e: Error) => { clearTimeout(timer); reject(e); });
  });
  if (!ticket) return "sent no session ticket";
  const reused = await new Promise<boolean>((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ca, minVersion: "TLSv1.3", session: ticket });
    s.once("secureConnect", () => { resolve(s.isSessionReused()); s.end(); });
    s.once("error", reject);
  });
  return reused ? "resumed the session" : "did not resume the session";
}

type OpKey = "handshake" | "handshakeLatency" | "keepalive" | "est" | "estNode";

interface OpResult {
  readonly op: OpKey;
  readonly target: Target;
  readonly windows: Window[];
}

function sum(ws: readonly Window[], f: (w: Window) => number): number {
  return ws.reduce((a, w) => a + f(w), 0);
}

interface Row {
  readonly target: Target;
  readonly ops: number;
  readonly perSecond: number;
  readonly cpuMs: number;
  /** Of cpuMs, the root process (supervisor / master). */
  readonly rootCpuMs: number;
  readonly clientCpuMs: number;
  readonly rates: readonly number[];
  readonly p50?: number;
  readonly p99?: number;
  readonly failures: number;
  readonly note?: string;
}

function rowOf(r: OpResult): Row {
  const ops = sum(r.windows, (w) => w.ops);
  const latencies = r.windows.filter((w) => w.p50 !== undefined);
  return {
    target: r.target, ops, perSecond: ops / sum(r.windows, (w) => w.seconds), cpuMs: (1000 * sum(r.windows, (w) => w.serverCpu)) / ops,
    rootCpuMs: (1000 * sum(r.windows, (w) => w.rootCpu)) / ops,
    clientCpuMs: (1000 * sum(r.windows, (w) => w.clientCpu)) / ops, rates: r.windows.map((w) => w.ops / w.seconds),
    ...(latencies.length ? { p50: sum(latencies, (w) => w.p50 ?? 0) / latencies.length, p99: Math.max(...latencies.map((w) => w.p99 ?? 0)) } : {}),
    failures: sum(r.windows, (w) => w.failures), ...(r.windows[0]?.note ? { note: r.windows[0].note } : {}),
  };
}

const ms = (n: number | undefined, d = 2): string => (n !== undefined && Number.isFinite(n) ? n.toFixed(d) : "–");
const int0 = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–");
const ratio = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : "–");

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const align = head.map((_, i) => (i === 0 ? "---" : "---:"));
  return [head, align, ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

/** The EST part's checks and settings, for the text around its tables. */
interface EstContext {
  readonly tlsCheck: WrkTlsCheck;
  readonly shomeiTickets: string;
  readonly probeTickets: string;
  readonly checks: readonly EstCheck[];
  readonly warm: number;
  readonly perWindow: number;
  readonly cap: number;
}

interface Context {
  readonly date: Date;
  readonly est: EstContext;
  readonly cfg: CompareConfig;
  readonly versions: Record<string, string>;
  readonly loadStart: readonly number[];
  readonly loadEnd: readonly number[];
  readonly seconds: number;
}

/** A table of one operation; "nginx" adds the ratios to nginx, "floor" only the difference to the bare Node floor. */
function opTable(rows: readonly Row[], anchors: "nginx" | "floor" | "none"): string {
  const nginx = rows.find((r) => r.target.kind === "nginx");
  const head = ["target", "server processes", "ops", "box /s (each round)", "server CPU ms/op", "of it: supervisor / master / the one process", "p50 ms", "p99 ms", "load generator CPU ms/op", "not 200"];
  if (anchors === "nginx") head.push("/s ÷ nginx", "CPU ÷ nginx");
  if (anchors !== "none") head.push("CPU − bare Node ms (same process count)");
  return table(head, rows.map((r) => {
    const cells = [r.target.label, r.target.processes(), int0(r.ops), `${int0(r.perSecond)} (${r.rates.map(int0).join(", ")})`, ms(r.cpuMs, 3), ms(r.rootCpuMs, 3), ms(r.p50, 1), ms(r.p99, 1), ms(r.clientCpuMs, 3), String(r.failures)];
    const node = floorFor(rows, r.target.key);
    if (anchors === "nginx") cells.push(nginx ? ratio(r.perSecond / nginx.perSecond) : "–", nginx ? ratio(r.cpuMs / nginx.cpuMs) : "–");
    if (anchors !== "none") cells.push(node ? ms(r.cpuMs - node.cpuMs, 3) : "–");
    return cells;
  }));
}

/**
 * The bare Node floor a target is compared with: the one process for `--workers 1` (and itself), the
 * two processes for the default workers and nginx's two (on this 2-core machine two busy processes
 * pay for sharing the cores, the floor as much as Shomei); the one process when the other is absent.
 */
function floorFor(rows: readonly Row[], key: string): Row | undefined {
  // The EST window has floors of its own (no client certificate, the answer's size), keyed "est-node…".
  const prefix = rows.some((r) => r.target.key.startsWith("est-node")) ? "est-node" : "node";
  const one = rows.find((r) => r.target.key === prefix);
  if (key === "shomei-1" || key === prefix) return one;
  return rows.find((r) => r.target.key === `${prefix}-2`) ?? one;
}

function verdicts(rows: Record<OpKey, Row[]>): string {
  const pick = (op: OpKey, f: (r: Row) => boolean): Row | undefined => rows[op].find(f);
  const def = (op: OpKey): Row | undefined => pick(op, (r) => r.target.key === "shomei-default");
  const one = (op: OpKey): Row | undefined => pick(op, (r) => r.target.key === "shomei-1");
  const nginx = pick("handshake", (r) => r.target.kind === "nginx");
  const node = floorFor(rows.handshake, "node");
  const node2 = floorFor(rows.handshake, "shomei-default");
  const hs = def("handshake");
  const ka = def("keepalive");
  const est = def("est");
  const estFloor1 = floorFor(rows.est, "shomei-1");
  const estFloor2 = floorFor(rows.est, "shomei-default");
  const met = (ok: boolean | undefined): string => (ok === undefined ? "not measured" : ok ? "**met**" : "**not met**");
  const own = hs && node2 ? hs.cpuMs - node2.cpuMs : NaN;
  const ownOne = one("handshake") && node ? (one("handshake")?.cpuMs ?? NaN) - node.cpuMs : NaN;
  const ownMixed = hs && node ? hs.cpuMs - node.cpuMs : NaN;
  const lines: (readonly string[])[] = [
    ["Portal: own work ≤ 0.3 ms server CPU on top of bare Node's mTLS handshake (handshake + login page)",
      `${ms(own, 3)} ms with the default workers (Shomei ${ms(hs?.cpuMs, 3)} ms − bare Node in ${node2 === node ? "1 process" : "2 processes"} ${ms(node2?.cpuMs, 3)} ms), ` +
      `${ms(ownOne, 3)} ms with 1 worker (Shomei ${ms(one("handshake")?.cpuMs, 3)} ms − bare Node in 1 process ${ms(node?.cpuMs, 3)} ms); ` +
      `default workers against the 1-process floor: ${ms(ownMixed, 3)} ms`, met(Number.isFinite(own) && Number.isFinite(ownOne) ? own <= 0.3 && ownOne <= 0.3 : undefined)],
    ["Portal: ≤ 0.15 ms server CPU per request on an open connection (logged-in page)", `${ms(ka?.cpuMs, 3)} ms (1 worker: ${ms(one("keepalive")?.cpuMs, 3)} ms)`, met(ka ? ka.cpuMs <= 0.15 : undefined)],
    ["Portal: default workers ≥ 0.6 × nginx (2 workers) box throughput, handshake + page", `${ratio((hs?.perSecond ?? NaN) / (nginx?.perSecond ?? NaN))} × (${int0(hs?.perSecond ?? NaN)}/s against ${int0(nginx?.perSecond ?? NaN)}/s)`, met(hs && nginx ? hs.perSecond >= 0.6 * nginx.perSecond : undefined)],
    ["EST: ≤ 1.2 ms server CPU per enrollment, new TLS connection each",
      `${ms(est?.cpuMs, 3)} ms (1 worker: ${ms(one("est")?.cpuMs, 3)} ms); bare Node's TLS + HTTP + teardown with a fixed answer costs ${ms(estFloor2?.cpuMs, 3)} ms in 2 processes, ` +
      `${ms(estFloor1?.cpuMs, 3)} ms in 1, so Shomei's own work per enrollment is ${ms((est?.cpuMs ?? NaN) - (estFloor2?.cpuMs ?? NaN), 3)} ms (1 worker: ${ms((one("est")?.cpuMs ?? NaN) - (estFloor1?.cpuMs ?? NaN), 3)} ms)`,
      met(est ? est.cpuMs <= 1.2 : undefined)],
    ["EST: default workers ≥ 700 enrollments/s at c=32, load generator included; p99 reported", `${int0(est?.perSecond ?? NaN)}/s with wrk (its own CPU ${ms(est?.clientCpuMs, 3)} ms per enrollment), p50 ${ms(est?.p50, 1)} ms, p99 ${ms(est?.p99, 1)} ms (1 worker: ${int0(one("est")?.perSecond ?? NaN)}/s)`, met(est ? est.perSecond >= 700 : undefined)],
  ];
  return table(["goal (issue 12)", "this run", ""], lines);
}

function estChecksText(e: EstContext): string {
  const f = e.tlsCheck.fresh;
  const a = e.tlsCheck.alone;
  const issued = e.checks.map((c) => `${int0(c.issued)} / ${int0(c.ok)}`).join(", ");
  const verified = e.checks.filter((c) => c.verify === "OK" && c.ownUser).length;
  const idle = e.checks.map((c) => c.idle);
  const errors = e.checks.reduce((n, c) => n + c.socketErrors, 0);
  return `Checks, all passed or the run fails: against a bare Node https server with Shomei's TLS options that counts its
handshakes (Node's default session tickets, as Shomei's listeners; the same est_wrk.lua and connections, ${e.tlsCheck.rows} rows),
wrk with the library made ${f.handshakes} handshakes for ${f.requests} requests, ${f.resumed} resumed, protocols ${JSON.stringify(f.protocols)};
wrk alone made ${a.handshakes}, of which ${a.resumed} resumed. A Node TLS client that kept the ticket and offered it on its next
connection: the counting server ${e.probeTickets}, Shomei's EST listener (--workers 1) ${e.shomeiTickets}.
In each window the certificates table grew by the number of 200s with a certificate (grown / answered: ${issued}); the first
certificate of each window passed \`openssl verify\` against the root with the issuing CA and names one of the window's
users (${verified} of ${e.checks.length}); socket errors: ${errors}. After the table ran out, wrk re-opened ${Math.min(...idle)}–${Math.max(...idle)}
connections per window that got no enrollment (a TLS handshake each, in the server's CPU: at most ${ratio((100 * Math.max(...idle)) / e.perWindow)} % of a window's connections).`;
}

function render(ctx: Context, results: readonly OpResult[], profiles: readonly WorkerProfile[]): string {
  const byOp = (op: OpKey): Row[] => results.filter((r) => r.op === op).map(rowOf);
  const rows: Record<OpKey, Row[]> = { handshake: byOp("handshake"), handshakeLatency: byOp("handshakeLatency"), keepalive: byOp("keepalive"), est: byOp("est"), estNode: byOp("estNode") };
  const { cfg } = ctx;
  const v = ctx.versions;
  const note = rows.handshake.map((r) => `${r.target.label}: ${r.note ?? "?"}`).join("; ");
  return `${COMPARE_BEGIN}
## Side by side with nginx and bare Node (\`npm run bench:compare\`)

Written by \`npm run bench:compare\` (bench/compare.ts) on ${ctx.date.toISOString()}, ${Math.round(ctx.seconds)} s in all; every run replaces this section only.
**This machine is shared:** other work ran during the run (see the load average), so absolute rates move
10–20 % between runs; the ratios between targets measured in the same run move much less.

|  |  |
| --- | ---: |
| machine | ${availableParallelism()} cores, ${cpus()[0]?.model ?? "?"}, Linux ${release()} |
| Node | ${process.version} (OpenSSL ${process.versions.openssl}) |
| openssl CLI | ${v.openssl} |
| nginx | ${v.nginx} |
| ab | ${v.ab} |
| wrk | ${v.wrk} (LuaJIT), with bench/est_wrk.lua and bench/wrk_fresh_tls.c |
| load average (1, 5, 15 min) at start / end | ${ctx.loadStart.map((n) => n.toFixed(2)).join(", ")} / ${ctx.loadEnd.map((n) => n.toFixed(2)).join(", ")} |
| settings | BENCH_SECONDS=${cfg.seconds}, BENCH_COMPARE_WARM_SECONDS=${cfg.warmSeconds}, BENCH_COMPARE_EST_WARM=${cfg.estWarm}, BENCH_COMPARE_ROUNDS=${cfg.rounds}, BENCH_COMPARE_CLIENTS=${cfg.clients}, BENCH_COMPARE_AB_PROCS=${cfg.abProcesses}, BENCH_COMPARE_EST_N=${cfg.estN}, BENCH_COMPARE_EST_C=${cfg.estClients}, BENCH_COMPARE_EST_NODE_N=${cfg.estNodeN}, BENCH_PROFILE=${cfg.profile ? 1 : 0} |

Every target uses the same server certificate and key (the CA's \`tls/server.pem\`, ECDSA P-256) and asks for a
client certificate from the same CAs (issuing + root); every client presents the same user's certificate
(P-256, issued by Shomei over EST in this run). TLS 1.3, no session resumption. Server CPU is utime + stime of the
whole process tree from /proc/PID/stat (nginx master + workers, serve's supervisor + workers), before and after
each window, divided by the operations. "Load generator CPU" is the C clients' own CPU (from this process's
cutime + cstime once they exited; for the EST cross-check the Node load generator in this process): what the box had left.
Each operation ran ${cfg.rounds} round(s) of ${cfg.seconds} s per target in turn (A, B, C, D, A, B …); "box /s" is over all rounds, the rounds' own rates in brackets.
Before its windows every target got ${cfg.warmSeconds} s of each portal load and ${cfg.estWarm} EST enrollments, not measured: the servers are
measured warm, as they run for days, not while V8 still compiles them.
nginx and the bare Node server send the portal's login page (its HTML, fetched once at start) as a fixed page.
The bare Node server runs twice: in one process, the floor of \`--workers 1\`, and as two processes accepting from one
socket (node:cluster, \`SCHED_NONE\`: each accepts itself, as serve's workers do on the sockets the supervisor hands them), the floor of the default workers: on this 2-core machine two busy
server processes and the clients share the cores, which raises the CPU per operation of the floor as much as Shomei's.
"CPU − bare Node" subtracts the floor with the same number of processes (nginx's 2 workers: the 2-process floor).

### Full mTLS handshake + \`GET /\` (the portal's login page), new connection each

${cfg.clients} × \`openssl s_time -new -cert -key -www /\` in parallel. p50/p99 come from a separate window of
\`ab\` (${cfg.abProcesses} processes, ${cfg.clients} connections in all, no keep-alive, \`-E\` with the same certificate): s_time reports no latencies.

${opTable(rows.handshake.map((r) => {
    const l = rows.handshakeLatency.find((x) => x.target === r.target);
    return { ...r, ...(l?.p50 !== undefined ? { p50: l.p50, p99: l.p99 } : {}) };
  }), "nginx")}

Bytes read per connection (a check that every target sent the page): ${note}.

The same operation measured with \`ab\` (the latency window): server CPU per handshake + page, for comparison.

${opTable(rows.handshakeLatency, "nginx")}

### A request on an open connection: a logged-in page

\`ab -k\` (HTTP/1.0 keep-alive; ${cfg.abProcesses} processes, ${cfg.clients} connections in all, each presenting the client certificate),
\`GET /me\` with the session cookie of one login made at start (Shomei: the user's own page; nginx and Node: the fixed page).

${opTable(rows.keepalive, "nginx")}

### EST enrollment, new TLS connection each, ${cfg.estClients} in flight (\`wrk\`)

\`POST /.well-known/est/simpleenroll\`, a distinct registered user, one-time passcode and P-256 CSR per request, HTTP Basic,
no client certificate, sent by \`wrk -t1 -c${cfg.estClients}\` (C, one thread) with bench/est_wrk.lua: a table of rows made and
registered before the clock starts, each sent once with \`Connection: close\`, so every enrollment opens its own TCP and
TLS connection; the window ends when every row has its answer. bench/wrk_fresh_tls.c is preloaded into wrk
(\`LD_PRELOAD\`): wrk alone keeps the TLS session when it re-opens a connection and resumes it with the server's
ticket (no certificate sent, none signed), which a new EST client would not; the library drops it, so each
enrollment pays a full handshake, and it times each enrollment whole, from the TLS handshake to the answer (wrk's own
latency starts after the handshake). p50/p99 are those times (the highest p99 of the rounds). "Load generator CPU" is
wrk's utime + stime. Per target: ${ctx.est.warm} enrollments unmeasured as warm-up, then ${cfg.rounds} round(s) of ${ctx.est.perWindow}, the targets alternating
(at most ${ctx.est.cap} s a window). An enrollment counts when its answer is a 200 with a certificate; "not 200" counts every other row.
Each Shomei instance runs on its own copy of the data folder, and the server's CPU of a window is read once its supervisor has
stored the pre-signed OCSP answers of the window's certificates (bench/presigned.ts), so each window holds that signing of
exactly its own certificates (the "supervisor" column); the rate is taken over the enrollments alone.
The bench's shomei.json sets \`addressLimit.failures\` to ${BENCH_ADDRESS_LIMIT} (default 30): the address limiter counts the attempts in flight
from an address against that limit, so with the default more than 30 enrollments in flight from one address (here all come
from 127.0.0.1) get 429 TOO_MANY_ATTEMPTS. The work per enrollment is the same.
The floor of this window is bare Node again (bench/compare_floor.ts with \`est\`), in one process and in two as above, with the EST
listener's TLS options (no client certificate asked for): it reads each request's body to its end and answers with a fixed
certs-only answer of this run (the portal user's enrollment), so it pays the TLS handshake, HTTP and the teardown of every
enrollment but not the enrollment; it gets the same rows from the same wrk. Every row must get that answer or the run fails.

${opTable(rows.est, "floor")}

${estChecksText(ctx.est)}

${rows.estNode.length ? `The Node load generator used before (node:https in this process, a new connection and a full handshake per
enrollment, server certificate verified; ${cfg.estNodeN} enrollments per target, in each round after the wrk windows), kept as a
cross-check of the server's CPU per enrollment: its own CPU is in the "load generator" column, and on 2 cores it
takes that much from the server.

${opTable(rows.estNode, "none")}
` : ""}
### Goals of issue 12 measured here

${verdicts(rows)}

In-process issuance and "flat with size" are measured by \`npm run bench\` (the sections above), not here.
${profiles.length ? `\n### Where a worker's time goes (profiles, \`serve --workers 1\` under --cpu-prof, after a warm-up)\n\n${profiles.map(renderProfile).join("\n")}` : ""}${COMPARE_END}`;
}

/** A command's first line of output (stdout or stderr: nginx -v writes there). */
async function version(cmd: string, args: readonly string[]): Promise<string> {
  const d = await runCommand(cmd, args).catch(() => undefined);
  return (d ? (d.stdout + d.stderr).split("\n").find((l) => l.trim()) ?? "unknown" : "unknown").trim();
}

async function main(): Promise<number> {
  const cfg = loadCompareConfig();
  const t0 = performance.now();
  const loadStart = loadavg();
  const log = (s: string): void => void process.stdout.write(`${s}\n`);
  const parent = process.env.BENCH_DIR || tmpdir();
  mkdirSync(parent, { recursive: true });
  const work = mkdtempSync(join(parent, "shomei-compare-"));
  // nginx started by root runs its workers as nobody: they must reach the page (not list the folder; the keys stay 0600).
  chmodSync(work, 0o711);
  const root = join(work, "data");
  const targets: Target[] = [];
  try {
    const versions: Record<string, string> = {
      openssl: await version("openssl", ["version"]), nginx: (await version(NGINX, ["-v"])).replace(/^nginx version: /, ""),
      ab: (await version("ab", ["-V"])).replace(/^This is /, ""),
      wrk: (await version("wrk", ["-v"])).replace(/ Copyright.*$/, ""),
    };
    if (versions.wrk === "unknown") throw new Error("wrk is needed for the EST window (Debian package wrk)");
    log(`bench:compare: ${availableParallelism()} cores, Node ${process.version}, ${versions.openssl}, nginx ${versions.nginx}; work folder ${work}`);
    await createCa(root);
    const dir = new DataDir(root);
    raiseAddressLimit(dir);
    const files = {
      cert: dir.tlsCert, key: join(work, "tls.key.pem"), clientCa: join(work, "client-ca.pem"), caFile: join(root, "ca", "root.pem"),
      userCert: join(work, "user.cert.pem"), userKey: join(work, "user.key.pem"), userCertKey: join(work, "user.pem"), page: join(work, "page.html"),
    };
    const tlsKeyPem = dir.privateKey(dir.tlsKey, dir.passphrase()).export({ format: "pem", type: "pkcs8" }) as string;
    writeFileSync(files.key, tlsKeyPem, { mode: 0o600 });
    const clientCas = [toPem(dir.certificate(dir.issuingCert), "CERTIFICATE"), toPem(dir.certificate(dir.rootCert), "CERTIFICATE")];
    writeFileSync(files.clientCa, clientCas.join(""));
    const caPem = readFileSync(files.caFile, "utf8");

    // The portal user (a real password, already changed: login lands on /me) and the EST users, before any server opens the file.
    // Per Shomei target: a wrk warm-up, the wrk windows (estN over the rounds), the Node cross-check.
    const estWarm = cfg.estWarm;
    const estPerTarget = estWarm + cfg.estN + cfg.estNodeN;
    log(`setup: the portal user and ${2 * estPerTarget} EST users with a P-256 key and CSR each…`);
    const setupStart = performance.now();
    const ids = new UserIds();
    const portalUser = { userId: "a9000001", password: "Kawasemi-Sakura-2026!", passcode: generatePasscode() };
    const userKey = freshP256();
    const estUsers = await makeUsers(ids, 2 * estPerTarget);
    const desk = await openDesk(root);
    try {
      const now = new Date();
      await desk.store.registerUser({
        userId: portalUser.userId, email: `${portalUser.userId}@bench.invalid`, name: "Bench portal", organization: desk.config.organization, lang: "en",
        role: "user", status: "active", passwordHash: await hashPassword(portalUser.password), passwordInitial: false, passwordSetAt: now,
        passwordExpiresAt: new Date(now.getTime() + 300 * DAY), createdAt: now, failedLogins: 0, lockedAt: null, lastLoginAt: null,
      }, {
        userId: portalUser.userId, hash: passcodeHash(desk.dir.hmacSecret(), portalUser.userId, portalUser.passcode), issuedAt: now,
        expiresAt: new Date(now.getTime() + 40 * DAY), failedAttempts: 0, status: "active", usedAt: null, csrHash: null, certificateSerial: null,
      }, []);
      await registerUsers(desk.store, desk.dir.hmacSecret(), desk.config.organization, estUsers);
    } finally {
      await desk.close();
    }
    log(`  setup took ${((performance.now() - setupStart) / 1000).toFixed(0)} s`);

    log("starting shomei-ca serve (default workers)…");
    const shomeiDefault = await serveShomei(root, undefined, "shomei-default", "Shomei, default workers");
    targets.push(shomeiDefault);

    // The user's certificate, issued over EST like any user's.
    const csr = await buildCsr({ publicKey: userKey.publicKey, signer: keyObjectSigner(userKey.privateKey), commonName: portalUser.userId });
    const issued = await httpsOnce(new URL("simpleenroll", shomeiDefault.estBase), {
      ca: caPem, method: "POST", body: csr.toString("base64"),
      headers: { "content-type": "application/pkcs10", authorization: `Basic ${Buffer.from(`${portalUser.userId}:${portalUser.passcode}`).toString("base64")}` },
    });
    if (issued.status !== 200) throw new Error(`enrolling the portal user: ${issued.status} ${issued.body}`);
    const certDer = readCertsOnly(Buffer.from(issued.body.replace(/\s+/g, ""), "base64"))[0];
    if (!certDer) throw new Error("no certificate in the EST answer");
    const userCertPem = toPem(certDer, "CERTIFICATE");
    const userKeyPem = userKey.privateKey.export({ format: "pem", type: "pkcs8" }) as string;
    writeFileSync(files.userCert, userCertPem);
    writeFileSync(files.userKey, userKeyPem, { mode: 0o600 });
    writeFileSync(files.userCertKey, userCertPem + userKeyPem, { mode: 0o600 });
    const client: TlsClient = { certFile: files.userCert, keyFile: files.userKey, certKeyFile: files.userCertKey, caFile: files.caFile };
    const tls = { cert: userCertPem, key: userKeyPem, ca: caPem };

    const portalOf = (t: Target): URL => new URL(`https://127.0.0.1:${t.portalPort}/`);
    const loginPage = await httpsOnce(portalOf(shomeiDefault), { ...tls, headers: { "accept-language": "en" } });
    if (loginPage.status !== 200) throw new Error(`login page: ${loginPage.status}`);
    writeFileSync(files.page, loginPage.body);
    const cookie = await logIn(portalOf(shomeiDefault), portalUser.userId, portalUser.password, tls);

    // The second instance on a copy made now (the user's certificate and session in it): on one shared store, either
    // instance's supervisor would pre-sign the other's new certificates, in or out of the other's window.
    log("starting shomei-ca serve --workers 1 on a copy of the data folder…");
    const rootOne = join(work, "data-1");
    await copyDataFolder(root, rootOne);
    const shomeiOne = await serveShomei(rootOne, 1, "shomei-1", "Shomei, --workers 1");
    targets.push(shomeiOne);

    log("starting nginx and the bare Node https server…");
    targets.push(await startNginx(work, { cert: files.cert, key: files.key, clientCa: files.clientCa, page: files.page }, 2));
    targets.push(await startFloor(work, { key: tlsKeyPem, cert: readFileSync(files.cert, "utf8"), ca: clientCas, page: files.page }));
    targets.push(await startFloor(work, { key: tlsKeyPem, cert: readFileSync(files.cert, "utf8"), ca: clientCas, page: files.page, workers: 2 }));

    // Every target answers both paths with 200 for this client (and the logged-in page is the user's own).
    for (const t of targets) {
      for (const path of ["/", "/me"]) {
        const r = await httpsOnce(new URL(path, portalOf(t)), { ...tls, headers: { ...(path === "/me" ? { cookie } : {}), "accept-language": "en" } });
        if (r.status !== 200) throw new Error(`${t.label} ${path}: ${r.status} ${r.body.slice(0, 200)}`);
        if (t.kind === "shomei" && path === "/me" && !r.body.includes(portalUser.userId)) throw new Error(`${t.label} /me is not the user's page`);
      }
    }

    const results: OpResult[] = [];
    const record = (op: OpKey, t: Target, w: Window): void => {
      const r = results.find((x) => x.op === op && x.target === t);
      if (r) r.windows.push(w);
      else results.push({ op, target: t, windows: [w] });
      log(`  ${op.padEnd(16)} ${t.label.padEnd(44)} ${int0(w.ops / w.seconds).padStart(6)}/s  server ${ms((1000 * w.serverCpu) / w.ops, 3)} ms/op  client ${ms((1000 * w.clientCpu) / w.ops, 3)} ms/op${w.failures ? `  ${w.failures} failed` : ""}`);
    };
    const csvPrefix = join(work, "ab");
    // Warm-up, not measured: JIT, caches and connection pools of every target.
    log(`warm-up (not measured): ${cfg.warmSeconds} s of each portal load per target`);
    for (const t of targets) {
      await Promise.all(sTime(t.portalPort, "/", cfg.warmSeconds, cfg.clients, client).map((p) => p()));
      await Promise.all(ab(`https://127.0.0.1:${t.portalPort}/me`, cfg.warmSeconds, cfg.clients, cfg.abProcesses, true, client, [`Cookie: ${cookie}`, "Accept-Language: en"], csvPrefix).map((p) => p()));
    }
    for (let round = 1; round <= cfg.rounds; round++) {
      log(`round ${round}/${cfg.rounds}: full mTLS handshake + GET / (s_time)`);
      for (const t of targets) record("handshake", t, await measured(t.pid, sTime(t.portalPort, "/", cfg.seconds, cfg.clients, client), readSTime));
      log(`round ${round}/${cfg.rounds}: GET /me on an open connection (ab -k)`);
      for (const t of targets) {
        record("keepalive", t, await measured(t.pid, ab(`https://127.0.0.1:${t.portalPort}/me`, cfg.seconds, cfg.clients, cfg.abProcesses, true, client, [`Cookie: ${cookie}`, "Accept-Language: en"], csvPrefix), readAb));
      }
    }
    log("latencies of full handshake + GET / (ab, no keep-alive)");
    for (const t of targets) record("handshakeLatency", t, await measured(t.pid, ab(`https://127.0.0.1:${t.portalPort}/`, cfg.seconds, cfg.clients, cfg.abProcesses, false, client, ["Accept-Language: en"], csvPrefix), readAb));
    // EST: wrk, checked first against a Node https server that counts its handshakes.
    log("EST: compiling bench/wrk_fresh_tls.c; checking wrk's TLS against a handshake-counting Node https server…");
    const tools = await buildWrkTools(work);
    const probePage = join(work, "probe.html");
    writeFileSync(probePage, "MII probe: not a certificate\n");
    const probe = await startFloor(work, { key: tlsKeyPem, cert: readFileSync(files.cert, "utf8"), ca: clientCas, page: probePage, countHandshakes: true });
    let tlsCheck: WrkTlsCheck;
    let probeTickets: string;
    try {
      tlsCheck = await wrkTlsCheck(probe, tools, work, cfg.estClients, caPem);
      probeTickets = await resumesSession(probe.portalPort, caPem);
    } finally {
      await probe.stop();
    }
    log(`  wrk + wrk_fresh_tls.so: ${tlsCheck.fresh.handshakes} handshakes for ${tlsCheck.fresh.requests} requests, ${tlsCheck.fresh.resumed} resumed; wrk alone: ${tlsCheck.alone.resumed} of ${tlsCheck.alone.handshakes} resumed`);
    const shomeiTickets = await resumesSession(Number(shomeiOne.estBase?.port), caPem);
    log(`  a Node TLS client that kept the ticket: the counting server ${probeTickets}, Shomei's EST listener (--workers 1) ${shomeiTickets}`);
    const ca: CaFiles = { root: files.caFile, issuing: dir.issuingCert };
    const shomeis = targets.filter((t) => t.kind === "shomei");
    // The EST window's floors: bare Node with the EST listener's TLS options, answering with this run's
    // certs-only answer (the portal user's), in one process and in two (as serve's default workers).
    const estAnswer = join(work, "est-answer.b64");
    writeFileSync(estAnswer, issued.body);
    const estFloors: Target[] = [];
    for (const workers of [1, 2]) estFloors.push(await startFloor(work, { key: tlsKeyPem, cert: readFileSync(files.cert, "utf8"), ca: clientCas, page: estAnswer, est: true, workers }));
    targets.push(...estFloors);
    const floorRun = async (t: Target, users: readonly BenchUser[], tag: string): Promise<Window> => {
      const r = await wrkWindow(t.pid, t.estBase ?? new URL("https://invalid/"), users, cfg.estClients, estCap, tools, work, tag);
      let answered = "";
      try {
        answered = readFileSync(r.sample, "utf8");
      } catch {
        answered = "";
      }
      // Every row answered with the fixed answer, or the window counts as failed (the run then fails).
      const wrong = answered === issued.body ? 0 : 1;
      return { ...r.window, failures: r.window.failures + r.run.socketErrors + wrong };
    };
    const estChecks: EstCheck[] = [];
    const perWindow = Math.floor(cfg.estN / cfg.rounds);
    const estCap = Math.max(60, cfg.seconds * 12);
    const perNodeWindow = Math.floor(cfg.estNodeN / cfg.rounds);
    log(`EST enrollments, new TLS connection each, ${cfg.estClients} in flight: warm-up of ${estWarm} per target (wrk), then ${cfg.rounds} round(s) of ${perWindow} by wrk${perNodeWindow > 0 ? ` and ${perNodeWindow} by the Node load generator` : ""}`);
    const usersOf = (i: number): BenchUser[] => estUsers.slice(i * estPerTarget, (i + 1) * estPerTarget);
    for (const [i, t] of shomeis.entries()) {
      if (estWarm > 0) await estWrkRun(t, usersOf(i).slice(0, estWarm), cfg.estClients, estCap, tools, work, `${t.key}-warm`, ca);
    }
    for (const t of estFloors) if (estWarm > 0) await floorRun(t, usersOf(0).slice(0, estWarm), `${t.key}-warm`);
    for (let round = 0; round < cfg.rounds; round++) {
      for (const [i, t] of shomeis.entries()) {
        const from = estWarm + round * perWindow;
        const r = await estWrkRun(t, usersOf(i).slice(from, from + perWindow), cfg.estClients, estCap, tools, work, `${t.key}-${round}`, ca);
        record("est", t, r.window);
        estChecks.push(r.check);
        log(`    p50 ${ms(r.window.p50, 1)} ms, p99 ${ms(r.window.p99, 1)} ms; ${r.check.issued} certificates on record for ${r.check.ok} answers; sample: ${r.check.verify}; ${r.check.idle} idle re-opens; statuses ${r.check.statuses}${r.check.firstBad ? `; first other answer: ${r.check.firstBad}` : ""}`);
      }
      for (const t of estFloors) {
        const from = estWarm + round * perWindow;
        record("est", t, await floorRun(t, usersOf(0).slice(from, from + perWindow), `${t.key}-${round}`));
      }
      // The Node load generator's cross-check in the same round, so both clients meet the same machine.
      for (const [i, t] of perNodeWindow > 0 ? shomeis.entries() : []) {
        const from = estWarm + cfg.estN + round * perNodeWindow;
        record("estNode", t, await estRun(t, usersOf(i).slice(from, from + perNodeWindow), cfg.estClients, caPem, estCap));
      }
    }

    const profiles: WorkerProfile[] = [];
    if (cfg.profile) {
      log("profiles of a worker (--cpu-prof, not measured above)");
      profiles.push(await profileWorker(root, work, `Full mTLS handshake + GET / (${cfg.clients} × s_time -new, ${cfg.seconds} s)`, (t) =>
        Promise.all(sTime(t.portalPort, "/", cfg.seconds, cfg.clients, client).map((p) => p()))));
      profiles.push(await profileWorker(root, work, `GET /me on open connections (ab -k, ${cfg.clients} connections, ${cfg.seconds} s)`, (t) =>
        Promise.all(ab(`https://127.0.0.1:${t.portalPort}/me`, cfg.seconds, cfg.clients, cfg.abProcesses, true, client, [`Cookie: ${cookie}`, "Accept-Language: en"], csvPrefix).map((p) => p()))));
    }

    const out = process.env.BENCH_OUT || DEFAULT_OUT;
    const est: EstContext = { tlsCheck, shomeiTickets, probeTickets, checks: estChecks, warm: estWarm, perWindow, cap: estCap };
    const section = render({ date: new Date(), cfg, est, versions, loadStart, loadEnd: loadavg(), seconds: (performance.now() - t0) / 1000 }, results, profiles);
    let doc = "";
    try {
      doc = readFileSync(out, "utf8");
    } catch {
      doc = "# Shomei benchmarks\n";
    }
    writeFileSync(out, spliceSection(doc, section));
    log(`Wrote the bench:compare section of ${out} (${((performance.now() - t0) / 1000).toFixed(0)} s in all)`);
    const broken = results.filter((r) => r.windows.some((w) => w.failures > 0 || w.ops === 0));
    if (broken.length > 0) {
      log(`Some requests failed: ${broken.map((r) => `${r.op} on ${r.target.label}`).join(", ")}`);
      return 1;
    }
    const unchecked = estChecks.filter((c) => c.issued !== c.ok || c.verify !== "OK" || !c.ownUser || c.socketErrors > 0 || c.timed !== c.ok);
    if (unchecked.length > 0) {
      log(`EST checks failed: ${unchecked.map((c) => `${c.target.label}: ${c.issued} issued for ${c.ok} answers, ${c.timed} timed, verify ${c.verify}, own user ${String(c.ownUser)}, ${c.socketErrors} socket errors`).join("; ")}`);
      return 1;
    }
    return 0;
  } finally {
    for (const t of targets.reverse()) await t.stop().catch(() => undefined);
    if (process.env.BENCH_KEEP === "1") log(`Work folder kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

process.exitCode = await main();
