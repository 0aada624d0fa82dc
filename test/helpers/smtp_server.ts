/**
 * A real SMTP server on loopback for the mail tests: Debian's aiosmtpd run by smtp_server.py,
 * with STARTTLS (a throw-away certificate from openssl) and AUTH required, one recipient
 * refused with 550, each message stored as raw bytes in DIR/outbox (so readOutbox(DIR) from
 * ca.ts parses them with Python's email package). It can be stopped and started again on the
 * same port, to test retries.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readOutbox, tempDir, type ParsedMail } from "./ca.js";
import { run, ROOT } from "./run.js";
import { PY_DEBIAN } from "./tools.js";

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
  cleanup(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** The script is not compiled: it lives beside this file's source in test/helpers. */
function script(): string {
  const here = fileURLToPath(new URL("./smtp_server.py", import.meta.url));
  return existsSync(here) ? here : join(ROOT, "test", "helpers", "smtp_server.py");
}

export async function startSmtpServer(o: { tls?: boolean; auth?: boolean } = {}): Promise<SmtpServer> {
  const tls = o.tls ?? true;
  const auth = o.auth ?? true;
  const dir = tempDir("shomei-smtp-");
  const box = join(dir, "outbox");
  const certFile = join(dir, "smtp-cert.pem");
  const keyFile = join(dir, "smtp-key.pem");
  if (tls) {
    const r = await run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", keyFile, "-out", certFile]);
    if (r.code !== 0) throw new Error(`openssl: ${r.stderr}`);
  }
  const port = await freePort();
  const args = [script(), "--port", String(port), "--dir", box, "--reject", REFUSED_RECIPIENT,
    ...(tls ? ["--cert", certFile, "--key", keyFile] : []), ...(auth ? ["--user", SMTP_USER, "--password", SMTP_PASSWORD] : [])];
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
    messages: () => (files().length ? readOutbox(dir) : Promise.resolve([])),
    cleanup: async () => { await stop(); rmSync(dir, { recursive: true, force: true }); },
  };
}

/** Copies the server's certificate into a CA data folder and returns the relative path for mail.smtp.caFile. */
export function trustSmtpCert(server: SmtpServer, caDir: string): string {
  copyFileSync(server.certFile, join(caDir, "smtp-ca.pem"));
  return "smtp-ca.pem";
}
