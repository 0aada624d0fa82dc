/**
 * `npm run bench:ocsp`: Shomei's OCSP responder (`shomei-ca serve`, pre-signed answers) against
 * `openssl ocsp` as a responder, side by side in one run, alternating (A, B, A, B), on the same
 * CA, the same request bytes and a P-256 delegated responder certified by the same CA key.
 * Written to docs/revocation-benchmarks.md (its own section). A benchmark, not a test: it
 * fails only when something did not work (an answer that does not verify, failed requests).
 *
 * Run in a private network namespace (`unshare -n`, as root; the script re-runs itself there):
 * `openssl ocsp` binds every address. The load generator is `ab -c 8` POSTing one DER request
 * (a new connection each, and keep-alive with -k), with and without a nonce, and GETting it
 * without a nonce (RFC 5019; BENCH_OCSP_METHODS=POST or GET for one of them). The figure that does
 * not depend on the load generator is server CPU per response: utime + stime of the server
 * process and all its descendants (workers) from /proc, before and after, over the responses.
 *
 * Beside them, without a nonce: the floor, a bare Node `http` server (bench/ocsp_floor.ts, as
 * many workers, the same answer bytes); and, when BENCH_OCSP_BASELINE names another build's
 * dist/src/cli/shomei-ca.js, that build serving a copy of the same CA, alternating with this one
 * (old against new on the same machine in the same minutes; BENCH_OCSP_BASELINE_LABEL names it in the doc).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { request as httpRequest } from "node:http";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readOcspResponse } from "../src/pki/ocsp.js";
import { toPem } from "../src/pki/pem.js";
import { readCertificate } from "../src/pki/certificate.js";
import { openCa } from "../src/server/services.js";
import { createCa, issueBenchCertificate } from "./fixtures.js";
import { writeSection } from "./doc_section.js";

const OUT = process.env.BENCH_OUT ?? fileURLToPath(new URL("../../docs/revocation-benchmarks.md", import.meta.url));
const SHOMEI_CA = fileURLToPath(new URL("../src/cli/shomei-ca.js", import.meta.url));
const FLOOR = fileURLToPath(new URL("./ocsp_floor.js", import.meta.url));
const BASELINE = process.env.BENCH_OCSP_BASELINE;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
/** How the requests are sent: POST, and GET (BENCH_OCSP_METHODS, comma list). */
const METHODS = (process.env.BENCH_OCSP_METHODS ?? "POST,GET").split(",").filter((m): m is "POST" | "GET" => m === "POST" || m === "GET");
const TICK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim() || "100");

const fmt = (n: number, d = 0): string => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const say = (s: string): void => void process.stdout.write(`${s}\n`);

/** utime + stime (clock ticks) of a process and all its descendants, from /proc. */
function treeTicks(root: number): number {
  const parent = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(d), Number(f[1]));
      ticks.set(Number(d), Number(f[11]) + Number(f[12]));
    } catch {
      // gone meanwhile
    }
  }
  let sum = 0;
  for (const [pid, t] of ticks) {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) {
        sum += t;
        break;
      }
    }
  }
  return sum;
}

/** cutime + cstime of this process: the CPU of children waited for (ab). */
function childTicks(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[13]) + Number(f[14]);
}

interface AbResult { readonly complete: number; readonly failed: number; readonly perSecond: number }

/** `ab -c 8` for SECONDS: POSTing the file `body`, or (undefined) a GET of `url` itself. */
function ab(url: string, body: string | undefined, keepAlive: boolean): Promise<AbResult> {
  return new Promise((resolve, reject) => {
    const args = ["-q", "-n", "10000000", "-t", String(SECONDS), "-c", "8", ...(keepAlive ? ["-k"] : []), ...(body ? ["-p", body, "-T", "application/ocsp-request"] : []), url];
    const child = spawn("ab", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
    child.stderr.on("data", (d: Buffer) => { out += d.toString(); });
    child.on("error", reject);
    child.on("exit", () => {
      const n = (re: RegExp): number => Number(re.exec(out)?.[1] ?? 0);
      const complete = n(/Complete requests:\s+(\d+)/);
      if (!complete) say(`  ab: ${out.trim().split("\n").slice(-3).join(" / ")}`);
      // ECDSA signatures differ in length by a byte or two: ab's "Length" failures are not failures.
      const failed = n(/Connect: (\d+)/) + n(/Receive: (\d+)/) + n(/Exceptions: (\d+)/) + n(/Non-2xx responses:\s+(\d+)/);
      resolve({ complete, failed, perSecond: n(/Requests per second:\s+([\d.]+)/) });
    });
  });
}

interface Sample { readonly server: string; readonly method: "POST" | "GET"; readonly mode: string; readonly nonce: boolean; readonly cpuMs: number; readonly perSecond: number; readonly abCpuMs: number; readonly failed: number }

async function measure(server: string, pid: number, url: string, body: string | undefined, keepAlive: boolean, nonce: boolean): Promise<Sample> {
  const s0 = treeTicks(pid);
  const c0 = childTicks();
  const r = await ab(url, body, keepAlive);
  const s1 = treeTicks(pid);
  const c1 = childTicks();
  const perTick = 1000 / TICK;
  return {
    server, method: body ? "POST" : "GET", mode: keepAlive ? "keep-alive" : "new connection each", nonce,
    cpuMs: ((s1 - s0) * perTick) / Math.max(1, r.complete), perSecond: r.perSecond, abCpuMs: ((c1 - c0) * perTick) / Math.max(1, r.complete), failed: r.failed,
  };
}

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function startServe(root: string, port: number, cli = SHOMEI_CA): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, "serve", "--data", root, "--host", "127.0.0.1", "--port", "0", "--portal-port", "0", "--http-port", String(port), "--workers", "2"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (/^OCSP: /m.test(out)) resolve(child);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (d: Buffer) => { out += d.toString(); });
    child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
}

async function inNamespace(): Promise<number> {
  spawnSync("ip", ["link", "set", "lo", "up"], { stdio: "inherit" });
  const root = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), "shomei-ocsp-bench-"));
  const started = new Date();
  const load0 = loadavg()[0] ?? NaN;
  const procs: ChildProcess[] = [];
  try {
    await createCa(root);
    // One real certificate, and a delegated responder (P-256, certified by the same CA key) for openssl.
    const s = await openCa(root);
    let certDer: Buffer;
    let responder: { der: Buffer; keyPem: string };
    try {
      const cert = await issueBenchCertificate(s);
      certDer = cert.der;
      responder = await s.ocsp.exportResponder();
    } finally {
      await s.close();
    }
    const f = (n: string): string => join(root, n);
    const s2 = await openCa(root);
    const issuing = s2.issuingDer;
    await s2.close();
    writeFileSync(f("issuing.pem"), toPem(issuing, "CERTIFICATE"));
    writeFileSync(f("cert.pem"), toPem(certDer, "CERTIFICATE"));
    writeFileSync(f("responder.pem"), toPem(responder.der, "CERTIFICATE"));
    writeFileSync(f("responder.key"), responder.keyPem);
    const info = readCertificate(certDer);
    // openssl ocsp finds the certificate by serial; the name column is not compared.
    writeFileSync(f("index.txt"), `V\t361231235959Z\t\t${info.serialHex.toUpperCase()}\tunknown\t/CN=bench\n`);
    for (const [name, extra] of [["req.der", ["-no_nonce"]], ["req-nonce.der", []]] as const) {
      const r = spawnSync("openssl", ["ocsp", "-issuer", f("issuing.pem"), "-cert", f("cert.pem"), "-reqout", f(name), ...extra], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`openssl ocsp -reqout: ${r.stderr}`);
    }

    const shomeiPort = 18080;
    const opensslPort = 18081;
    const floorPort = 18082;
    const baselinePort = 18083;
    // The baseline serves a copy of the CA as it is now (the same keys, certificate and request).
    if (BASELINE) cpSync(root, `${root}-baseline`, { recursive: true });
    const srv = await startServe(root, shomeiPort);
    procs.push(srv);
    const base = BASELINE ? await startServe(`${root}-baseline`, baselinePort, BASELINE) : undefined;
    if (base) procs.push(base);
    const req = readFileSync(f("req.der"));
    // One connection per question, closed after the answer: openssl ocsp serves one connection at a
    // time and would wait for ever on an idle pooled one (fetch keeps them).
    const post = (port: number): Promise<Buffer> => new Promise((resolve, reject) => {
      const r = httpRequest({ host: "127.0.0.1", port, path: port === opensslPort ? "/" : "/ocsp", method: "POST", agent: false, headers: { "content-type": "application/ocsp-request", "content-length": req.length } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(Buffer.concat(chunks)));
        res.on("error", reject);
      });
      r.on("error", reject);
      r.end(req);
    });
    // Shomei's answer once pre-signed (valid 96 h, not the 5-minute one signed on request); openssl's once it listens.
    const presigned = async (port: number): Promise<boolean> => {
      const a = readOcspResponse(await post(port), certDer, issuing, { now: new Date() });
      return a.status === "good" && (a.nextUpdate?.getTime() ?? 0) - a.thisUpdate.getTime() > 3_600_000;
    };
    await waitFor("Shomei's pre-signed answer", () => presigned(shomeiPort));
    if (base) await waitFor("the baseline's pre-signed answer", () => presigned(baselinePort));
    // The floor answers with the bytes Shomei answers.
    writeFileSync(f("answer.der"), await post(shomeiPort));
    const floor = spawn(process.execPath, [FLOOR, String(floorPort), f("answer.der"), "2"], { stdio: "ignore" });
    procs.push(floor);
    await waitFor("the bare Node floor", async () => (await post(floorPort)).length > 0);
    // A fresh openssl responder for each sample: one that hangs (it does after a connection closed
    // early, as ab leaves some at the end of a timed run) must not spoil the next sample.
    const startOpenssl = async (): Promise<ChildProcess> => {
      const osl = spawn("openssl", ["ocsp", "-index", f("index.txt"), "-port", String(opensslPort), "-rsigner", f("responder.pem"), "-rkey", f("responder.key"), "-CA", f("issuing.pem"), "-ndays", "4", "-ignore_err"], { stdio: "ignore" });
      procs.push(osl);
      await waitFor("openssl ocsp", async () => readOcspResponse(await post(opensslPort), certDer, issuing, { now: new Date() }).status === "good");
      return osl;
    };
    const stop = async (p: ChildProcess): Promise<void> => {
      if (p.exitCode !== null || p.signalCode !== null) return;
      const gone = new Promise<void>((r) => p.once("exit", () => r()));
      p.kill("SIGKILL");
      await gone;
    };

    // Warm-up (JIT, caches), not counted.
    await ab(`http://127.0.0.1:${shomeiPort}/ocsp`, f("req.der"), false);
    await ab(`http://127.0.0.1:${shomeiPort}/ocsp`, f("req.der"), true);
    if (base) await ab(`http://127.0.0.1:${baselinePort}/ocsp`, f("req.der"), false);
    await ab(`http://127.0.0.1:${floorPort}/ocsp`, f("req.der"), false);
    // GET (RFC 6960 A.1, RFC 5019; what Windows asks by): the request's base64, URL-encoded, after the responder's URL.
    const getTail = encodeURIComponent(req.toString("base64"));
    const getOnce = (port: number, path: string): Promise<Buffer> => new Promise((resolve, reject) => {
      httpRequest({ host: "127.0.0.1", port, path, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(Buffer.concat(chunks)));
        res.on("error", reject);
      }).on("error", reject).end();
    });
    // Every server answers the GET with a good answer that verifies (openssl ocsp reads GETs too).
    const checkGet = async (name: string, port: number, path: string): Promise<void> => {
      const status = readOcspResponse(await getOnce(port, path), certDer, issuing, { now: new Date() }).status;
      if (status !== "good") throw new Error(`${name} answered a GET ${status}`);
    };
    if (METHODS.includes("GET")) {
      await checkGet("Shomei", shomeiPort, `/ocsp/${getTail}`);
      const osl = await startOpenssl();
      await checkGet("openssl ocsp", opensslPort, `/${getTail}`);
      await stop(osl);
    }
    await ab(`http://127.0.0.1:${shomeiPort}/ocsp/${getTail}`, undefined, false);
    if (base) await ab(`http://127.0.0.1:${baselinePort}/ocsp/${getTail}`, undefined, false);
    const samples: Sample[] = [];
    const servers = [
      { name: "Shomei", url: `http://127.0.0.1:${shomeiPort}/ocsp`, proc: srv },
      ...(base ? [{ name: "baseline", url: `http://127.0.0.1:${baselinePort}/ocsp`, proc: base }] : []),
      { name: "openssl ocsp", url: `http://127.0.0.1:${opensslPort}`, proc: undefined },
      { name: "floor", url: `http://127.0.0.1:${floorPort}/ocsp`, proc: floor },
    ];
    for (let round = 0; round < ROUNDS; round++) {
      for (const method of METHODS) {
        for (const keepAlive of [false, true]) {
          // GET without a nonce only: the clients that ask by GET (Windows, RFC 5019 ones) send none, so that caches can keep the answer.
          for (const nonce of method === "GET" ? [false] : [false, true]) {
            for (const sv of servers) {
              // The floor answers fixed bytes: a nonce changes nothing for it.
              if (sv.name === "floor" && nonce) continue;
              say(`round ${round + 1}: ${sv.name}, ${method}, ${keepAlive ? "keep-alive" : "new connection each"}, nonce ${String(nonce)} …`);
              const theirs = sv.proc ? undefined : await startOpenssl();
              const url = method === "GET" ? `${sv.url}/${getTail}` : sv.name === "openssl ocsp" ? `${sv.url}/` : sv.url;
              const sample = await measure(sv.name, (theirs ?? sv.proc)?.pid ?? 0, url, method === "GET" ? undefined : f(nonce ? "req-nonce.der" : "req.der"), keepAlive, nonce);
              if (theirs) await stop(theirs);
              say(`  ${fmt(sample.cpuMs, 3)} ms server CPU per response, ${fmt(sample.perSecond)}/s, ab ${fmt(sample.abCpuMs, 3)} ms, failed ${sample.failed}`);
              samples.push(sample);
            }
          }
        }
      }
    }

    // The median of the rounds per server, mode and nonce.
    const median = (xs: number[]): number => {
      const v = [...xs].sort((a, b) => a - b);
      return v.length % 2 ? v[(v.length - 1) / 2] ?? NaN : ((v[v.length / 2 - 1] ?? NaN) + (v[v.length / 2] ?? NaN)) / 2;
    };
    const pick = (server: string, method: string, mode: string, nonce: boolean): { cpu: number; rate: number; ab: number; failed: number } => {
      const ss = samples.filter((x) => x.server === server && x.method === method && x.mode === mode && x.nonce === nonce);
      return { cpu: median(ss.map((x) => x.cpuMs)), rate: median(ss.map((x) => x.perSecond)), ab: median(ss.map((x) => x.abCpuMs)), failed: ss.reduce((a, x) => a + x.failed, 0) };
    };
    const rows: string[] = [];
    for (const method of METHODS) {
      for (const mode of ["new connection each", "keep-alive"]) {
        for (const nonce of method === "GET" ? [false] : [false, true]) {
          const us = pick("Shomei", method, mode, nonce);
          const them = pick("openssl ocsp", method, mode, nonce);
          const floor = pick("floor", method, mode, false);
          const old = pick("baseline", method, mode, nonce);
          const baseCell = base ? ` ${fmt(old.cpu, 3)} ms, ${fmt(old.rate)}/s (${old.failed} failed) |` : "";
          rows.push(`| ${method}, ${mode}, ${nonce ? "with" : "no"} nonce | ${fmt(us.cpu, 3)} ms, ${fmt(us.rate)}/s | ${fmt(them.cpu, 3)} ms, ${fmt(them.rate)}/s | **${fmt(them.cpu / us.cpu, 2)}** | ${fmt(us.rate / them.rate, 2)} | ${fmt(floor.cpu, 3)} ms, ${fmt(floor.rate)}/s |${baseCell} ${fmt(us.ab, 3)} / ${fmt(them.ab, 3)} ms | ${us.failed} / ${them.failed} |`);
        }
      }
    }
    const section = [
      "## OCSP against `openssl ocsp` (`npm run bench:ocsp`)",
      "",
      `Written by \`npm run bench:ocsp\` on ${started.toISOString()} (${availableParallelism()} cores, ${cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version};`,
      `load average ${fmt(load0, 2)} at the start — other sessions were loading the same 2 cores, so rates move; the CPU ratios less).`,
      `Both in one private network namespace (\`unshare -n\`), alternating, ${ROUNDS} rounds of ${SECONDS} s each, median shown;`,
      "`ab -c 8` POSTing one DER request made by `openssl ocsp -reqout` (with a nonce: the same nonce every time), and GETting",
      "the same request without a nonce as RFC 5019 clients and Windows ask (its base64, URL-encoded, after the responder's URL).",
      "Shomei: `shomei-ca serve --workers 2` (supervisor + 2 workers), answering the pre-signed response from memory.",
      "`openssl ocsp`: `-index` with the certificate, `-rsigner` a P-256 delegated responder certified by the same CA key,",
      "signing every answer. Server CPU is utime + stime of the whole process tree from /proc, per response.",
      "",
      `Floor: a bare Node \`http\` server (bench/ocsp_floor.ts), 2 workers accepting as \`serve\`'s do, answering the same bytes${base ? ";" : "."}`,
      ...(base ? [`baseline: ${process.env.BENCH_OCSP_BASELINE_LABEL ?? `\`${BASELINE}\``} serving a copy of the same CA, alternating with this build.`] : []),
      "",
      `| work | Shomei: server CPU per response, box rate | \`openssl ocsp\` | CPU ratio (openssl / Shomei, > 1: Shomei cheaper) | rate ratio (Shomei / openssl) | bare Node \`http\` (no nonce) |${base ? " baseline build |" : ""} ab CPU per request (Shomei / openssl) | failed (Shomei / openssl) |`,
      `| --- | ---: | ---: | ---: | ---: | ---: |${base ? " ---: |" : ""} ---: | ---: |`,
      ...rows,
      "",
      "With a nonce Shomei still answers the pre-signed response (RFC 8954 2.1; `ocsp.requireNonce: true` signs each",
      "one instead); `openssl ocsp` signs every answer either way and serves one connection at a time, so",
      "keep-alive buys it nothing (it closes each connection).",
    ].join("\n");
    writeSection(OUT, "ocsp", section);
    say(section);
    say(`Wrote ${OUT}`);
    return samples.some((x) => x.failed > 0 && x.server === "Shomei") ? 1 : 0;
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill("SIGTERM");
    await sleep(1500);
    for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
    rmSync(`${root}-baseline`, { recursive: true, force: true });
  }
}

function main(): Promise<number> {
  if (process.env.SHOMEI_BENCH_NETNS === "1") return inNamespace();
  // openssl ocsp binds every address: the whole comparison runs in a network namespace of its own.
  const r = spawnSync("unshare", ["-n", process.execPath, fileURLToPath(import.meta.url)], { stdio: "inherit", env: { ...process.env, SHOMEI_BENCH_NETNS: "1" } });
  if (r.error) throw new Error(`unshare -n failed (run as root): ${r.error.message}`);
  return Promise.resolve(r.status ?? 1);
}

main().then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
