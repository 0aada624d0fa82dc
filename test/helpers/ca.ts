/**
 * A real Shomei CA for tests: `shomei-ca init` in a temporary folder, `shomei-ca serve` as a
 * child process on a free port, and the outbox read back with Python's email package (a
 * parser nobody here wrote, so the .eml files are checked as RFC 5322 while being read).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { run, shomeiCa, SHOMEI_CA } from "./run.js";
import { crlShardOf, crlShardUrl } from "../../src/pki/crl_shard.js";
import { INIT_CRL_SHARDS } from "../../src/server/config.js";

export interface TestCa {
  readonly dir: string;
  readonly rootPem: string;
  readonly issuingPem: string;
  readonly rootFingerprint: string;
  cleanup(): void;
}

export function tempDir(prefix = "shomei-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Sets top-level settings of a CA's shomei.json (each given key replaced whole, the rest kept;
 * a function gets the settings as they are); returns the settings as they were.
 */
export function editConfig(dir: string, settings: Record<string, unknown> | ((config: Record<string, unknown>) => Record<string, unknown>)): Record<string, unknown> {
  const file = join(dir, "shomei.json");
  const config = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...config, ...(typeof settings === "function" ? settings(config) : settings) }, null, 2));
  return config;
}

/** `shomei-ca init` in a new temporary folder. */
export async function initCa(extra: readonly string[] = []): Promise<TestCa> {
  const base = tempDir();
  const dir = join(base, "ca");
  const r = await shomeiCa(["init", "--data", dir, "--org", "テスト株式会社", "--hostname", "localhost,127.0.0.1", "--helpdesk", "helpdesk@example.jp", ...extra]);
  if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`);
  const fp = /Root CA fingerprint \(SHA-256\): ([0-9A-F:]{95})/.exec(r.stdout)?.[1];
  if (!fp) throw new Error(`no fingerprint line in: ${r.stdout}`);
  return {
    dir,
    rootPem: join(dir, "ca", "root.pem"),
    issuingPem: join(dir, "ca", "issuing.pem"),
    rootFingerprint: fp,
    cleanup: () => rmSync(base, { recursive: true, force: true }),
  };
}

export interface Served {
  readonly url: string;
  readonly estUrl: string;
  /** From the OCSP: and CRL: lines serve prints. */
  readonly ocspUrl: string;
  readonly crlUrl: string;
  readonly process: ChildProcess;
  readonly output: () => string;
  stop(): Promise<void>;
}

/** `shomei-ca serve --port 0`; resolves once it printed its EST, OCSP and CRL lines (it is then accepting). */
export function serve(dir: string, extra: readonly string[] = [], env: Readonly<Record<string, string>> = {}): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SHOMEI_CA, "serve", "--data", dir, "--host", "127.0.0.1", "--port", "0", ...extra], {
      env: { ...process.env, LANG: "en_US.UTF-8", ...env }, stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`serve did not start: ${out}`)); }, 30_000);
    const onData = (d: Buffer): void => {
      out += d.toString("utf8");
      const m = /^EST: (https:\/\/\S+)\/\.well-known\/est$/m.exec(out);
      const ocsp = /^OCSP: (http:\/\/\S+)$/m.exec(out);
      const crl = /^CRL: (http:\/\/\S+)$/m.exec(out);
      if (m?.[1] && ocsp?.[1] && crl?.[1]) {
        clearTimeout(timer);
        const url = m[1];
        resolve({
          url, estUrl: `${url}/.well-known/est`, ocspUrl: ocsp[1], crlUrl: crl[1], process: child, output: () => out,
          stop: () => new Promise<void>((res) => {
            if (child.exitCode !== null) return res();
            child.once("exit", () => res());
            child.kill("SIGTERM");
          }),
        });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (d: Buffer) => { out += d.toString("utf8"); });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`serve exited ${code}: ${out}`)); });
  });
}

/** Waits (polling) until `check` holds; fails with `what` after `ms`. */
export async function until(what: string, check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what} (after ${ms} ms)`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The PIDs from serve's `Workers:` line (printed right after the lines serve() waits for). */
export async function workerPids(srv: Served): Promise<number[]> {
  const line = /^Workers: (\d+) \(PID ([\d, ]+)\)$/m;
  await until(`a Workers: line in ${srv.output()}`, () => line.test(srv.output()), 30_000);
  return (line.exec(srv.output())?.[2] ?? "").split(", ").map(Number);
}

/** The processes whose parent is `pid` (read from /proc, as `pgrep -P` does): serve's workers now. */
export function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) kids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return kids.sort((a, b) => a - b);
}

/**
 * A TLS connection that `worker` took: `open` makes new ones until one lands there (the kernel
 * gives each to whichever worker accepts first), the others are closed unused.
 */
export async function connectionTo(worker: number, pids: readonly number[], open: () => TLSSocket, tries = 100): Promise<TLSSocket> {
  for (let i = 0; i < tries; i++) {
    const s = open();
    await new Promise<void>((resolve, reject) => {
      s.once("secureConnect", () => resolve());
      s.once("error", reject);
    });
    if (workerOf(s, pids) === worker) return s;
    s.destroy();
  }
  throw new Error(`no connection reached worker ${worker} in ${tries} tries`);
}

/**
 * Which of `pids` holds the server end of this client's TCP connection on 127.0.0.1: the
 * kernel's table (/proc/net/tcp) names the socket of the pair of ports, and the process whose
 * /proc/PID/fd links to that socket is the worker serving it. Nothing in the response is
 * trusted for it, so it tells which worker answered even when the responses are identical.
 * Call it while the connection is open (after secureConnect, the worker has it).
 */
export function workerOf(socket: { readonly localPort?: number | undefined; readonly remotePort?: number | undefined }, pids: readonly number[]): number | undefined {
  const hex = (n: number | undefined): string => (n ?? 0).toString(16).toUpperCase().padStart(4, "0");
  // The server's end: local = the server's port, remote = the client's own port.
  const local = `:${hex(socket.remotePort)}`;
  const remote = `:${hex(socket.localPort)}`;
  let inode: string | undefined;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(local) && f[2]?.endsWith(remote) && f[9] && f[9] !== "0") inode = f[9];
  }
  if (!inode) return undefined;
  const link = `socket:[${inode}]`;
  for (const pid of pids) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`) === link) return pid;
        } catch {
          // The descriptor closed while we looked.
        }
      }
    } catch {
      // The process is gone.
    }
  }
  return undefined;
}

export interface ParsedMail {
  readonly file: string;
  readonly to: string;
  readonly from: string;
  readonly subject: string;
  readonly date: string;
  readonly contentType: string;
  readonly body: string;
}

const PY_PARSE = `
import email, email.policy, json, sys
out = []
for f in sys.argv[1:]:
    with open(f, "rb") as fh:
        m = email.message_from_binary_file(fh, policy=email.policy.default)
    out.append({"file": f, "to": str(m["To"]), "from": str(m["From"]), "subject": str(m["Subject"]),
                "date": str(m["Date"]), "contentType": m.get_content_type() + "; charset=" + str(m.get_content_charset()),
                "body": m.get_content()})
print(json.dumps(out))
`;

/** Every .eml in the outbox, parsed by Python's email package. */
export async function readOutbox(dir: string): Promise<ParsedMail[]> {
  const box = join(dir, "outbox");
  const files = readdirSync(box).filter((f) => f.endsWith(".eml")).sort().map((f) => join(box, f));
  if (files.length === 0) return [];
  const r = await run("python3", ["-c", PY_PARSE, ...files]);
  if (r.code !== 0) throw new Error(`python email parse failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ParsedMail[];
}

/** The passcode from the newest passcode mail to this address. */
export async function passcodeFor(dir: string, email: string): Promise<string> {
  const mails = (await readOutbox(dir)).filter((m) => m.to === email);
  for (const m of mails.reverse()) {
    const p = /^(?:パスコード|Passcode): ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})$/m.exec(m.body)?.[1];
    if (p) return p;
  }
  throw new Error(`no passcode mail to ${email}`);
}

/** The initial password from the newest mail to this address that carries one. */
export async function initialPasswordFor(dir: string, email: string): Promise<string> {
  const mails = (await readOutbox(dir)).filter((m) => m.to.includes(email));
  for (const m of mails.reverse()) {
    const p = /^(?:初期パスワード|Initial password): (\S+)$/m.exec(m.body)?.[1];
    if (p) return p;
  }
  throw new Error(`no initial password mail to ${email}`);
}

/** Registers a user through the CLI; returns the passcode from the mail. */
export async function addUser(dir: string, userId: string, extra: readonly string[] = []): Promise<{ email: string; passcode: string }> {
  const email = `${userId}@example.jp`;
  const r = await shomeiCa(["user", "add", userId, "--email", email, "--name", `利用者 ${userId}`, "--data", dir, ...extra]);
  if (r.code !== 0) throw new Error(`user add failed: ${r.stderr}`);
  return { email, passcode: await passcodeFor(dir, email) };
}

export function readText(path: string): string {
  return readFileSync(path, "utf8");
}

/**
 * The CRL shard a certificate of a CA made by `init` names as its distribution point (init
 * chooses INIT_CRL_SHARDS shards), from the full CRL's URL (serve's `CRL:` line) and the serial.
 */
export function crlShardUrlFor(fullCrlUrl: string, serialHex: string): string {
  return crlShardUrl(fullCrlUrl, crlShardOf(serialHex, INIT_CRL_SHARDS));
}
