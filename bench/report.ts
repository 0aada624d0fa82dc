/** Renders docs/benchmarks.md from the measurements, including a computed "where the time goes". */
import type { BenchConfig } from "./config.js";
import type { CryptoResult } from "./crypto_bench.js";
import type { EstPhase, EstResult } from "./est_bench.js";
import type { Component, IssuanceResult, Part, Phase } from "./issuance_bench.js";
import { percentile, type RunResult } from "./measure.js";
import type { ParallelResult } from "./parallel_issuance.js";
import type { ProfileSummary } from "./profile.js";

export interface Machine {
  readonly date: Date;
  readonly nproc: number;
  readonly cpu: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly opensslNode: string;
  readonly opensslCli: string;
  readonly dataDir: string;
  readonly filesystem: string;
  readonly loadStart: number;
  readonly loadEnd: number;
}

export interface Report {
  readonly machine: Machine;
  readonly config: BenchConfig;
  readonly crypto: readonly CryptoResult[];
  readonly issuance: IssuanceResult;
  readonly parallel: ParallelResult;
  readonly est: EstResult;
  readonly totalSeconds: number;
}

export const TARGET_ISSUANCE = 2000;
export const TARGET_EST = 500;
/** Issue 12: in-process issuance with durable records on one core, and using both. */
export const TARGET_ONE_CORE = 3000;
export const TARGET_BOTH_CORES = 5000;

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–");
const dec = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : "–");
const pct = (n: number): string => (Number.isFinite(n) ? `${Math.round(n * 100)} %` : "–");

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const sep = head.map((_, i) => (i === 0 ? "---" : "---:"));
  return [head, sep, ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

function profileSection(title: string, p: ProfileSummary | undefined, note: string | undefined): string {
  if (!p) return `### ${title}\n\n${note ?? "Not run (BENCH_PROFILE=0)."}\n`;
  const rows = (es: ProfileSummary["selfTop"]): string[][] => es.map((e) => [`\`${e.name.replace(/\|/g, "\\|")}\``, dec(e.ms, 0), pct(e.share)]);
  return [
    `### ${title}`,
    "",
    `${note ? `${note}. ` : ""}${dec(p.totalMs / 1000, 2)} s of main-thread samples (V8 samples on a wall-clock timer: time blocked ` +
    "in a system call such as SQLite's fsync counts, idle time does not). [native] marks C++ reached from JavaScript " +
    "(OpenSSL, SQLite, file I/O), named with its caller.",
    "",
    "By package or area (self time):",
    "",
    table(["area", "ms", "share"], rows(p.byArea.slice(0, 10))),
    "",
    "Hottest functions (self time):",
    "",
    table(["function", "ms", "share"], rows(p.selfTop.slice(0, 12))),
    "",
    "Shomei's own functions (inclusive time, callees included):",
    "",
    table(["function", "ms", "share"], rows(p.oursInclusive.slice(0, 10))),
    "",
  ].join("\n");
}

const best = (xs: readonly { result: { perSecond: number } }[]): number => Math.max(0, ...xs.map((x) => x.result.perSecond));
const whole = (cs: readonly Component[], part: Part): number => cs.find((c) => c.part === part && c.whole)?.rate.usPerOp ?? NaN;
const piece = (cs: readonly Component[], part: Part, startsWith: string): number =>
  cs.find((c) => c.part === part && c.label.startsWith(startsWith))?.rate.usPerOp ?? NaN;
const at = <T extends { result: { concurrency: number } }>(xs: readonly T[], c: number): T | undefined => xs.find((x) => x.result.concurrency === c) ?? xs[0];
const cpuUs = (p: Phase | undefined): number => (p ? (p.result.cpuSeconds / p.result.ops) * 1e6 : NaN);
/** CPU used by other processes during a run, as a share of one core. */
const others = (r: RunResult, ours: number): number => Math.max(0, r.machineCpuSeconds - ours) / r.seconds;
const serverMs = (p: EstPhase | undefined): number => (p ? (p.serverCpuSeconds / p.result.ops) * 1000 : NaN);
const clientMs = (p: EstPhase | undefined): number => (p ? (p.clientCpuSeconds / p.result.ops) * 1000 : NaN);

function analysis(r: Report): string {
  const { issuance: is, est } = r;
  const cs = is.components;
  const out: string[] = [];

  const enroll1 = at(is.simpleEnroll, 1);
  const split = is.inSitu;
  if (enroll1 && split) {
    const t = split.totalUs;
    const wait = enroll1.result.usPerOp - cpuUs(enroll1);
    const extra = enroll1.result.usPerOp - t;
    out.push(
      `- **In-process, one at a time: ${int(enroll1.result.usPerOp)} µs per simpleEnroll (${int(enroll1.result.perSecond)}/s); ` +
      `the process used ${int(cpuUs(enroll1))} µs CPU per issuance (all threads, GC helpers included)` +
      `${wait > 50 ? `, so ≈ ${int(wait)} µs went waiting (for fsync, or for the CPU while other work ran: see "other CPU")` : ", so it is CPU-bound, not disk-bound"}.** Timed inside ` +
      `the parse + issue + redeem pipeline (${int(t)} µs each): CSR check ${int(split.csrUs)} µs (${pct(split.csrUs / t)}), ` +
      `signing ${int(split.signUs)} µs (${pct(split.signUs / t)}), durable record ${int(split.dbUs)} µs (${pct(split.dbUs / t)}); ` +
      `simpleEnroll's two reads, HMAC and audit add ${extra > 0 ? `≈ ${int(extra)}` : "≈ 0"} µs. ${int(TARGET_ISSUANCE)}/s means ` +
      `${int(1e6 / TARGET_ISSUANCE)} µs per issuance, all included.`,
    );
  }
  const many = is.simpleEnroll.filter((p) => p.result.concurrency > 1).at(-1);
  const db1 = at(is.dbOnly, 1);
  const dbMany = is.dbOnly.filter((p) => p.result.concurrency > 1).at(-1);
  if (enroll1 && many && db1 && dbMany) {
    const gain = dbMany.result.perSecond / db1.result.perSecond;
    out.push(
      `- **Concurrency:** simpleEnroll with ${many.result.concurrency} in flight runs at ${int(many.result.perSecond)}/s ` +
      `(${dec(many.result.perSecond / enroll1.result.perSecond, 2)}× one at a time); redeemPasscode alone at ` +
      `${int(dbMany.result.perSecond)}/s (${dec(gain, 2)}×). ` +
      (gain > 1.3
        ? "Requests in flight share commits (group commit), so the fsync is paid once per batch; the CPU work stays on the one JavaScript thread."
        : "In-flight requests only queue: one JavaScript thread, one SQLite connection, one fsync per commit."),
    );
  }

  const csr = whole(cs, "csr");
  const csrPieces = cs.filter((c) => c.part === "csr" && !c.whole).sort((a, b) => b.rate.usPerOp - a.rate.usPerOp);
  out.push(
    `- **CSR check (${int(csr)} µs alone):** ` + csrPieces.map((c) => `${c.label.replace(/ \(.*\)$/, "")} ${int(c.rate.usPerOp)} µs`).join(", ") +
    " (largest first).",
  );
  const sign = whole(cs, "sign");
  const ecdsa = piece(cs, "sign", "keyObjectSigner.sign");
  const signPieces = cs.filter((c) => c.part === "sign" && !c.whole).sort((a, b) => b.rate.usPerOp - a.rate.usPerOp);
  out.push(
    `- **Signing (${int(sign)} µs alone):** the ECDSA signature is ${int(ecdsa)} µs (${pct(ecdsa / sign)}); ` +
    signPieces.filter((c) => !c.label.startsWith("keyObjectSigner")).map((c) => `${c.label.replace(/ \(.*\)$/, "")} ${int(c.rate.usPerOp)} µs`).join(", ") +
    " (largest first).",
  );
  const fsync = piece(cs, "db", "fdatasync");
  const bare = piece(cs, "db", "better-sqlite3 alone");
  const commit = piece(cs, "db", "store.audit");
  if (db1) {
    out.push(
      `- **Durable record:** redeemPasscode alone takes ${int(db1.result.usPerOp)} µs one at a time (${int(cpuUs(db1))} µs of it CPU)` +
      `${dbMany ? ` and ${int(dbMany.result.usPerOp)} µs each with ${dbMany.result.concurrency} in flight` : ""}. Floors on this disk: ` +
      `fdatasync ${int(fsync)} µs, a one-row commit with better-sqlite3 alone ${int(bare)} µs, a one-row commit through the store ` +
      `(the audit upsert compiled once (store/prepared.ts), its better-sqlite3 statement cached; BEGIN IMMEDIATE) ${int(commit)} µs.`,
    );
  }

  const newConn = est.phases.filter((p) => p.newConnections && p.label.startsWith("simpleenroll"));
  const keep = est.phases.find((p) => !p.newConnections);
  const hello = est.phases.find((p) => p.label.startsWith("GET cacerts"));
  const top = newConn.reduce<EstPhase | undefined>((a, b) => (!a || b.result.perSecond > a.result.perSecond ? b : a), undefined);
  if (top) {
    const busy = top.serverCpuSeconds / top.result.seconds;
    const both = (top.serverCpuSeconds + top.clientCpuSeconds) / top.result.seconds;
    out.push(
      `- **EST, new TLS connection per request:** best ${int(top.result.perSecond)}/s at ${top.concurrency} clients. The server ` +
      `spent ${dec(serverMs(top), 2)} ms CPU per enrollment and used ${pct(busy)} of one core` +
      `${busy >= 0.9 ? " (its one JavaScript thread is the bottleneck)" : ""}; the load generator used ${dec(clientMs(top), 2)} ms ` +
      `CPU per request (a TLS client handshake costs the client more than the server), and together they kept ` +
      `${pct(both / r.machine.nproc)} of the ${r.machine.nproc} cores busy. With a core to itself one server process would do ≈ ` +
      `${int(1000 / serverMs(top))}/s; ${int(TARGET_EST)}/s needs ≤ ${dec(1000 / TARGET_EST, 1)} ms server CPU per enrollment, ` +
      "and on this 2-core machine the load generator needs most of the other core.",
    );
  }
  if (top && keep && hello) {
    out.push(
      `- **Server CPU per enrollment:** a bare new-connection GET (TLS 1.3 handshake without client certificate, + HTTP) costs ` +
      `${dec(serverMs(hello), 2)} ms; an enrollment over keep-alive ${dec(serverMs(keep), 2)} ms; an enrollment on a new connection ` +
      `${dec(serverMs(top), 2)} ms. The connection is ≈ ${pct(serverMs(hello) / serverMs(top))} of it; the rest is the enrollment ` +
      `(${int(cpuUs(enroll1))} µs CPU in-process), the certs-only reply (${int(piece(cs, "est", "certsOnly"))} µs) and fastify / HTTP.`,
    );
  }
  const hot = (p: ProfileSummary | undefined): string =>
    (p?.selfTop ?? []).filter((e) => !e.name.startsWith("(")).slice(0, 5).map((e) => `\`${e.name}\` ${pct(e.share)}`).join(", ");
  if (is.profile || est.profile) {
    out.push(`- **Hottest functions (self time):** in-process simpleEnroll: ${hot(is.profile) || "–"}; server: ${hot(est.profile) || "–"}.`);
  }
  return out.join("\n");
}

/** A warning when other work took a noticeable share of the CPU during a timed phase. */
function noiseWarning(r: Report): string[] {
  const shares = [
    ...[...r.issuance.pipeline, ...r.issuance.simpleEnroll, ...r.issuance.dbOnly].map((p) => others(p.result, p.result.cpuSeconds)),
    ...r.est.phases.map((p) => others(p.result, p.serverCpuSeconds + p.clientCpuSeconds)),
  ];
  const worst = Math.max(0, ...shares.filter(Number.isFinite));
  if (worst < 0.25) return [];
  return [
    `> **Other work used up to ${pct(worst)} of a core during the timed phases** (column "other CPU"): on this ${r.machine.nproc}-core`,
    "> machine that skews these numbers. Rerun on a quiet machine before comparing.",
    "",
  ];
}

export function renderReport(r: Report): string {
  const m = r.machine;
  const c = r.config;
  const is = r.issuance;
  const bestIssue = best([...is.pipeline, ...is.simpleEnroll]);
  const bestEst = best(r.est.phases.filter((p) => p.newConnections && p.label.startsWith("simpleenroll")));
  const met = (v: number, t: number): string => (v >= t ? "met" : `not met (${pct(v / t)} of it)`);

  const inprocRows = [...is.pipeline, ...is.simpleEnroll, ...is.dbOnly].map((p) => [
    p.label, String(p.result.concurrency), int(p.result.ops), int(p.result.perSecond), int(p.result.usPerOp), int(cpuUs(p)),
    dec(percentile(p.result.latenciesMs, 50), 2), dec(percentile(p.result.latenciesMs, 99), 2), pct(others(p.result, p.result.cpuSeconds)),
  ]);
  const partName: Record<Part, string> = { csr: "CSR check", sign: "signing", db: "durable record", est: "EST route only" };
  const compRows = is.components.map((x) => [partName[x.part], x.whole ? `**${x.label}**` : x.label, dec(x.rate.usPerOp), int(x.rate.perSecond)]);
  const estRows = r.est.phases.map((p) => [
    p.label, String(p.concurrency), int(p.result.ops), int(p.ok), int(p.result.perSecond), dec(p.p50Ms), dec(p.p99Ms),
    dec(serverMs(p), 2), pct(p.serverCpuSeconds / p.result.seconds), int(1000 / serverMs(p)), dec(clientMs(p), 2),
    pct(others(p.result, p.serverCpuSeconds + p.clientCpuSeconds)),
  ]);
  const par = r.parallel.phases;
  const parRows = par.map((p) => [
    p.database, String(p.threads), String(p.inFlight), int(p.ops), int(p.perSecond), int(p.cpuUs), p.dbCpuUs === undefined ? "–" : int(p.dbCpuUs),
    int(1e6 / (p.cpuUs + (p.dbCpuUs ?? 0))), dec(p.otherCores, 2), dec(p.load, 2),
  ]);
  const oneCore = par.filter((p) => p.threads === 1 && p.database === "SQLite");
  const bothCores = par.filter((p) => p.threads >= 2);
  const bestOf = (ps: readonly { perSecond: number }[]): number => Math.max(-Infinity, ...ps.map((p) => p.perSecond));
  const perCore = Math.max(-Infinity, ...oneCore.map((p) => 1e6 / p.cpuUs));
  const failures = r.est.phases.filter((p) => p.ok !== p.result.ops).map((p) => `- ${p.label}, ${p.concurrency} clients: ${JSON.stringify(p.failures)}`);

  return [
    "# Shomei benchmarks",
    "",
    `Written by \`npm run bench\` (bench/run.ts) on ${m.date.toISOString()}; every run rewrites this report and keeps the marked sections other benchmarks write below it.`,
    "One run on the machine below: compare runs on the same machine only. Counts and durations are set by BENCH_* environment",
    "variables (bench/config.ts); `npm run build` first, the benchmark runs the compiled code in dist/.",
    "",
    "## Machine and settings",
    "",
    table(["", ""], [
      ["nproc", String(m.nproc)], ["CPU", m.cpu], ["memory", `${dec(m.memoryGiB)} GiB`], ["kernel", m.kernel],
      ["Node", m.node], ["OpenSSL (Node's)", m.opensslNode], ["openssl CLI", m.opensslCli],
      ["SQLite", `${is.sqliteVersion} via better-sqlite3, WAL, synchronous=FULL (the real store)`],
      ["data folder", `${m.dataDir} (${m.filesystem})`],
      ["load average (1 min) at start / end", `${dec(m.loadStart, 2)} / ${dec(m.loadEnd, 2)} (other work on the machine skews results)`],
      ["settings", `BENCH_INPROC_N=${c.inprocN}, BENCH_INPROC_WARM=${c.inprocWarm}, BENCH_INPROC_CONCURRENCY=${c.inprocConcurrency.join(",")}, BENCH_EST_N=${c.estN}, ` +
        `BENCH_EST_CONCURRENCY=${c.estConcurrency.join(",")}, BENCH_EST_WORKERS=${c.estWorkers.join(",")}, BENCH_CRYPTO_MS=${c.cryptoMs}, BENCH_COMPONENT_MS=${c.componentMs}, ` +
        `BENCH_MAX_PHASE_S=${c.maxPhaseSeconds}, BENCH_PROFILE=${c.profile ? 1 : 0}`],
      ["run time", `${dec(r.totalSeconds, 0)} s in all (in-process setup ${dec(is.setupSeconds, 0)} s for ${int(is.users)} users)`],
    ]),
    "",
    ...noiseWarning(r),
    "## Targets",
    "",
    table(["target", "best measured", ""], [
      [`in-process issuance ≥ ${int(TARGET_ISSUANCE)}/s`, `${int(bestIssue)}/s`, met(bestIssue, TARGET_ISSUANCE)],
      [`EST enrollments ≥ ${int(TARGET_EST)}/s, new TLS connection each`, `${int(bestEst)}/s`, met(bestEst, TARGET_EST)],
      [`issue 12: in-process ≥ ${int(TARGET_ONE_CORE)}/s on one core (1 thread, SQLite; in brackets 10⁶ / CPU µs per issuance)`,
        `${int(bestOf(oneCore))}/s (${int(perCore)}/s)`, met(bestOf(oneCore), TARGET_ONE_CORE)],
      [`issue 12: in-process ≥ ${int(TARGET_BOTH_CORES)}/s using both cores (2 threads)`, `${int(bestOf(bothCores))}/s`, met(bestOf(bothCores), TARGET_BOTH_CORES)],
    ]),
    "",
    "## Where the time goes",
    "",
    analysis(r),
    "",
    "## 1. Raw ECDSA P-256 (SHA-256, 400-byte message)",
    "",
    table(["operation", "µs per op", "per second"], r.crypto.map((x) => [x.label, dec(x.rate.usPerOp), int(x.rate.perSecond)])),
    "",
    "node:crypto's one-shot calls run on the calling thread; WebCrypto calls are jobs on the libuv thread pool, so with several",
    "in flight they use both cores, and one at a time they pay the hop to the pool and back.",
    "",
    "## 2. In-process issuance",
    "",
    "Pre-registered users (store.registerUser, no argon2id), one pre-made P-256 CSR each, the real SQLite store.",
    "\"µs each\" is wall time divided by count (with several in flight, the inverse of the rate); \"CPU µs\" is this process's",
    "user + system CPU per issuance. \"Other CPU\" (of one core, from /proc/stat) is everything else the machine ran meanwhile (other processes, kernel threads such as the ext4 journal).",
    "",
    table(["what", "in flight", "count", "per second", "µs each", "CPU µs each", "p50 ms", "p99 ms", "other CPU"], inprocRows),
    "",
    "### The parts alone (one at a time, pure-CPU parts in a hot loop)",
    "",
    table(["part", "step", "µs", "per second"], compRows),
    "",
    profileSection("Profile: EnrollmentService.simpleEnroll, one at a time", is.profile, undefined),
    "## 2b. In-process issuance on one core and on both (worker threads)",
    "",
    "EnrollmentService.simpleEnroll in 1 or 2 worker threads of one process, each with its own store connection (its own",
    "better-sqlite3 connection to the data folder's WAL file, or its own PostgreSQL pool in a schema made for the run), as",
    "`serve`'s workers would be; each thread warms up (BENCH_INPROC_WARM issuances), then all start together. \"CPU µs\" is this process (all threads) per",
    "issuance; on PostgreSQL the server backends of these connections are read from /proc beside it (its WAL writer and",
    "checkpointer are not). \"≈ /s per core\" is 10⁶ / (all that CPU). \"Other\" is what else the machine ran, in cores.",
    "",
    table(["database", "threads", "in flight each", "count", "per second", "CPU µs each", "PostgreSQL backends µs each", "≈ /s per core", "other (cores)", "load"], parRows),
    "",
    ...(r.parallel.postgresNote ? [`PostgreSQL: ${r.parallel.postgresNote}.`, ""] : [`PostgreSQL ${r.parallel.postgresVersion ?? ""} on the same machine.`, ""]),
    "SQLite has one writer at a time per file: two threads take turns at the write lock (each asks for it without blocking",
    "its thread, store/kysely_store.ts `write`), and each commit is its own fsync, so a second thread adds CPU for parsing",
    "and signing but not commits; on PostgreSQL the server's own CPU per issuance shares the same two cores.",
    "",
    "## 3. EST over HTTPS (`shomei-ca serve`, a separate process)",
    "",
    "Every request: POST /.well-known/est/simpleenroll with a distinct CSR (base64 DER, application/pkcs10) and HTTP Basic",
    "userId:passcode, on a fresh https.Agent (no keep-alive, no TLS session resumption; TLS 1.3), trusting only ca/root.pem",
    "(one shared SecureContext). Server CPU is user + system time of the server's process tree (supervisor and workers, all threads)",
    "from /proc/PID/stat, read once the supervisor has pre-signed the OCSP answers of the phase's certificates (bench/presigned.ts),",
    "so it holds that signing too; rates and the share of one core are over the requests' own time.",
    "The load generator (this process) runs on the same cores, so its CPU competes with the server's; \"≈ /s on a dedicated core\"",
    "is 1,000 / server CPU ms per request, what one server process could do with a core to itself.",
    "The bench's shomei.json sets `addressLimit.failures` to 1,000 (default 30): the address limiter counts the attempts in flight",
    "from one address (and, for about 20 ms, those just ended) against it, and 32 clients on 127.0.0.1 would otherwise get some 429s.",
    "",
    table(["test", "clients", "requests", "200 OK", "per second", "p50 ms", "p99 ms", "server CPU ms/req", "server CPU (of one core)",
      "≈ /s on a dedicated core", "load gen CPU ms/req", "other CPU"], estRows),
    "",
    ...(failures.length ? ["**Requests that did not get a certificate:**", "", ...failures, ""] : ["Every request got 200 and a certs-only PKCS#7.", ""]),
    profileSection("Profile: the server process", r.est.profile, r.est.profileNote),
  ].join("\n");
}
