/**
 * The wrk EST window shared by bench:compare and bench/est_ab.ts: bench/est_wrk.lua sends one
 * pre-made row (a registered user, its one-time passcode and a CSR) per request with
 * `Connection: close`, and bench/wrk_fresh_tls.c, preloaded into wrk, drops the TLS session so
 * every enrollment pays a full handshake and is timed whole. A window also checks what the
 * server did: the certificates table grew by the number of 200s, and the first certificate
 * answered verifies against the CA and names one of the window's users.
 */
import BetterSqlite3 from "better-sqlite3";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { toPem } from "../src/pki/pem.js";
import { readCertsOnly } from "../src/pki/pkcs7.js";
import { measured, runCommand, wrkEst, type Window, type WrkEst, type WrkTools } from "./compare_measure.js";
import type { BenchUser } from "./fixtures.js";
import { percentile } from "./measure.js";
import { waitPresigned } from "./presigned.js";

const EST_WRK_LUA = fileURLToPath(new URL("../../bench/est_wrk.lua", import.meta.url));
export const WRK_FRESH_TLS_C = fileURLToPath(new URL("../../bench/wrk_fresh_tls.c", import.meta.url));

/** Compiles bench/wrk_fresh_tls.c for wrk's LD_PRELOAD (a C compiler and the OpenSSL headers are needed). */
export async function buildWrkTools(work: string): Promise<WrkTools> {
  const so = join(work, "wrk_fresh_tls.so");
  const r = await runCommand("cc", ["-shared", "-fPIC", "-O2", "-Wall", "-o", so, WRK_FRESH_TLS_C, "-ldl", "-lssl", "-lcrypto"]).catch((e: Error) => ({ code: -1, stdout: "", stderr: e.message }));
  if (r.code !== 0) throw new Error(`compiling ${WRK_FRESH_TLS_C} (cc and the OpenSSL headers, Debian libssl-dev, are needed): ${r.stderr}`);
  return { script: EST_WRK_LUA, freshTls: so };
}

/** est_wrk.lua's table: "userId basicAuthBase64 csrBase64", one enrollment a line. */
export function writeRows(file: string, users: readonly BenchUser[]): void {
  writeFileSync(file, users.map((u) => `${u.userId} ${Buffer.from(`${u.userId}:${u.passcode}`).toString("base64")} ${u.csrDer.toString("base64")}\n`).join(""), { mode: 0o600 });
}

/** Issued certificates on record (read-only, beside serve's workers: SQLite WAL). */
export function certificateCount(dbFile: string): number {
  const db = new BetterSqlite3(dbFile, { readonly: true, fileMustExist: true });
  try {
    return Number((db.prepare("SELECT count(*) AS n FROM certificates").get() as { n: number }).n);
  } finally {
    db.close();
  }
}

/** What one wrk EST window was checked against. */
export interface EstWindowCheck {
  readonly ok: number;
  /** Growth of the certificates table over the window. */
  readonly issued: number;
  readonly idle: number;
  readonly socketErrors: number;
  readonly statuses: string;
  /** Enrollments timed by wrk_fresh_tls.so (the answered ones). */
  readonly timed: number;
  /** `openssl verify` of the first certificate answered, and whether its CN is one of the window's users. */
  readonly verify: string;
  readonly ownUser: boolean;
  /** The first answer that was not a 200 with a certificate: status and the start of its body. */
  readonly firstBad: string | undefined;
}

export interface CaFiles {
  readonly root: string;
  readonly issuing: string;
}

/** The first certificate a window got: `openssl verify` against the root with the issuing CA, and its subject's CN. */
async function checkSample(sampleFile: string, ca: CaFiles, users: readonly BenchUser[]): Promise<{ verify: string; ownUser: boolean }> {
  let body = "";
  try {
    body = readFileSync(sampleFile, "utf8");
  } catch {
    return { verify: "no certificate answered", ownUser: false };
  }
  const der = readCertsOnly(Buffer.from(body.replace(/\s+/g, ""), "base64"))[0];
  if (!der) return { verify: "no certificate in the answer", ownUser: false };
  const pem = `${sampleFile}.pem`;
  writeFileSync(pem, toPem(der, "CERTIFICATE"));
  const v = await runCommand("openssl", ["verify", "-CAfile", ca.root, "-untrusted", ca.issuing, pem]);
  const subject = await runCommand("openssl", ["x509", "-in", pem, "-noout", "-subject", "-nameopt", "RFC2253"]);
  const cn = /CN=([^,\n]+)/.exec(subject.stdout)?.[1] ?? "";
  const verify = v.code === 0 && /: OK$/m.test(v.stdout) ? "OK" : (v.stdout + v.stderr).trim().replace(/\s+/g, " ");
  return { verify, ownUser: users.some((u) => u.userId === cn) };
}

/**
 * One wrk window of simpleenroll rows against the server whose process tree is `pid`: every
 * user once, `clients` connections, each request on a new connection with a full TLS handshake.
 * Server CPU is that tree's utime + stime around the window; `sample` is the file the first
 * 200's body went to.
 */
export async function wrkWindow(pid: number, base: URL, users: readonly BenchUser[], clients: number, maxSeconds: number, tools: WrkTools, work: string, tag: string, settle?: () => Promise<void>): Promise<{ window: Window; run: WrkEst; sample: string }> {
  const rows = join(work, `est-${tag}.rows`);
  const sample = join(work, `est-${tag}.sample`);
  writeRows(rows, users);
  let run: WrkEst | undefined;
  const w = await measured(pid, [async () => (run = await wrkEst(base, rows, sample, clients, maxSeconds, tools))], () => ({
    ops: run?.ok ?? 0, failures: (run?.rows ?? users.length) - (run?.ok ?? 0),
  }), false, settle);
  if (!run) throw new Error("wrk did not run");
  const times = run.timesUs.map((us) => us / 1000);
  return { window: { ...w, p50: percentile(times, 50), p99: percentile(times, 99) }, run, sample };
}

/**
 * One wrk window of simpleenroll against Shomei (wrkWindow), checked: the certificates table
 * grew by the number of 200s, and the first certificate answered verifies against the CA and
 * names one of the window's users. The server's CPU is read once its supervisor has pre-signed
 * the OCSP answers of the window's certificates (bench/presigned.ts); `dbFile` must be this
 * server's own, or another instance on it may sign them.
 */
export async function estWrkWindow(pid: number, base: URL, users: readonly BenchUser[], clients: number, maxSeconds: number, tools: WrkTools, work: string, tag: string, ca: CaFiles, dbFile: string): Promise<{ window: Window; check: EstWindowCheck }> {
  const before = certificateCount(dbFile);
  const { window, run, sample } = await wrkWindow(pid, base, users, clients, maxSeconds, tools, work, tag, () => waitPresigned(dbFile));
  const issued = certificateCount(dbFile) - before;
  const sampleCheck = await checkSample(sample, ca, users);
  let firstBad: string | undefined;
  try {
    firstBad = readFileSync(`${sample}.bad`, "utf8").slice(0, 300).replace(/\s+/g, " ");
  } catch {
    firstBad = undefined;
  }
  return {
    window,
    check: { ok: run.ok, issued, idle: run.idle, socketErrors: run.socketErrors, statuses: run.statuses, timed: run.timesUs.length, firstBad, ...sampleCheck },
  };
}
