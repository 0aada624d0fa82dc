/**
 * A real SMTP server on loopback for the mail tests: Debian's aiosmtpd run by smtp_server.py,
 * with STARTTLS (a throw-away certificate from openssl) and AUTH required, one recipient
 * refused with 550, each message stored as raw bytes in DIR/outbox (so readOutbox(DIR) from
 * ca.ts parses them with Python's email package). It can be stopped and started again on the
 * same port, to test retries. `tls: "implicit"` speaks TLS from the first byte (port 465
 * style); `tls: false` offers no TLS at all. setRules() makes it refuse (550) or put off (451)
 * chosen recipients from the next RCPT on; events() tells what it saw (AUTH, RCPT, DATA) and
 * whether the connection was encrypted then.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readOutbox, tempDir, type ParsedMail } from "./ca.js";
import { run, ROOT } from "./run.js";
import { PY_DEBIAN } from "./tools.js";
import { freePort } from "./ports.js";

export const SMTP_USER = "shomei-mailer";
export const SMTP_PASSWORD = "smtp-pässword-42";
export const REFUSED_RECIPIENT = "nobody@example.jp";

export interface SmtpServer {
  readonly port: number;
  /** Parent of the outbox folder where received messages land. */
  readonly dir: string;
  /** PEM of the server's self-signed certificate (trust it with mail.smtp.caFile). */
  readonly certFile: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Received messages, oldest first, parsed by Python's email package. */
  messages(): Promise<ParsedMail[]>;
  /** Raw .eml paths, oldest first. */
  files(): string[];
  /** From the next RCPT on: refuse these recipients with 550, put these off with 451 (replaces earlier rules). */
  setRules(r: SmtpRules): void;
  /** What the server saw, in order: AUTH, RCPT and DATA, each with whether the connection was encrypted. */
  events(): SmtpEvent[];
  cleanup(): Promise<void>;
}

export interface SmtpRules {
  readonly reject?: readonly string[];
  readonly tempfail?: readonly string[];
}

export type SmtpEvent =
  | { readonly what: "AUTH"; readonly tls: boolean }
  | { readonly what: "RCPT"; readonly to: string; readonly code: number; readonly tls: boolean }
  | { readonly what: "DATA"; readonly tls: boolean };

function parseEvent(line: string): SmtpEvent {
  const tls = / tls=1$/.test(line);
  const rcpt = /^RCPT (\S+) (\d{3}) /.exec(line);
  if (rcpt?.[1] && rcpt[2]) return { what: "RCPT", to: rcpt[1], code: Number(rcpt[2]), tls };
  if (line.startsWith("AUTH ")) return { what: "AUTH", tls };
  if (line.startsWith("DATA ")) return { what: "DATA", tls };
  throw new Error(`unknown smtp server event: ${line}`);
}

/** The script is not compiled: it lives beside this file's source in test/helpers. */
function script(): string {
  const here = fileURLToPath(new URL("./smtp_server.py", import.meta.url));
  return existsSync(here) ? here : join(ROOT, "test", "helpers", "smtp_server.py");
}

export async function startSmtpServer(o: { tls?: boolean | "implicit"; auth?: boolean } = {}): Promise<SmtpServer> {
  const tls = o.tls ?? true;
  const auth = o.auth ?? true;
  const dir = tempDir("shomei-smtp-");
  const box = join(dir, "outbox");
  const certFile = join(dir, "smtp-cert.pem");
  const keyFile = join(dir, "smtp-key.pem");
  const rulesFile = join(dir, "rules.json");
  const logFile = join(dir, "events.log");
  if (tls) {
    const r = await run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", keyFile, "-out", certFile]);
    if (r.code !== 0) throw new Error(`openssl: ${r.stderr}`);
  }
  const port = await freePort();
  const args = [script(), "--port", String(port), "--dir", box, "--reject", REFUSED_RECIPIENT, "--rules", rulesFile, "--log", logFile,
    ...(tls ? ["--cert", certFile, "--key", keyFile] : []), ...(tls === "implicit" ? ["--implicit-tls"] : []), ...(auth ? ["--user", SMTP_USER, "--password", SMTP_PASSWORD] : [])];
  let child: ChildProcess | undefined;
  const start = (): Promise<void> => new Promise((resolve, reject) => {
    const c = spawn(PY_DEBIAN, args, { stdio: ["pipe", "pipe", "pipe"] });
    child = c;
    let out = "";
    const timer = setTimeout(() => { c.kill("SIGKILL"); reject(new Error(`smtp server did not start: ${out}`)); }, 20_000);
    c.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("READY")) { clearTimeout(timer); resolve(); }
    });
    c.stderr?.on("data", (d: Buffer) => { out += d.toString(); });
    c.on("exit", (code) => { clearTimeout(timer); reject(new Error(`smtp server exited ${code}: ${out}`)); });
  });
  const stop = (): Promise<void> => new Promise((resolve) => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return resolve();
    c.once("exit", () => resolve());
    c.kill("SIGTERM");
  });
  await start();
  const files = (): string[] => (existsSync(box) ? readdirSync(box).filter((f) => f.endsWith(".eml")).sort().map((f) => join(box, f)) : []);
  return {
    port, dir, certFile, start, stop, files,
    setRules: (r) => {
      // Written whole, then renamed: the server never reads half a file.
      writeFileSync(`${rulesFile}.tmp`, JSON.stringify(r));
      renameSync(`${rulesFile}.tmp`, rulesFile);
    },
    events: () => (existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").filter(Boolean).map(parseEvent) : []),
    messages: () => (files().length ? readOutbox(dir) : Promise.resolve([])),
    cleanup: async () => { await stop(); rmSync(dir, { recursive: true, force: true }); },
  };
}

/** Copies the server's certificate into a CA data folder and returns the relative path for mail.smtp.caFile. */
export function trustSmtpCert(server: SmtpServer, caDir: string): string {
  copyFileSync(server.certFile, join(caDir, "smtp-ca.pem"));
  return "smtp-ca.pem";
}
