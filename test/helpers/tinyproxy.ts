/**
 * Debian's tinyproxy as a company proxy for the client's tests: loopback only, Basic proxy
 * authentication, its log kept so a test can see which CONNECTs went through it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { tempDir } from "./ca.js";
import { freePort } from "./ports.js";

export interface Tinyproxy {
  /** http://127.0.0.1:PORT (no credentials). */
  readonly url: string;
  /** The proxy URL with these credentials in it (as a user writes HTTPS_PROXY). */
  withCredentials(user: string, password: string): string;
  /** tinyproxy's log so far (CONNECT targets are logged at Info level). */
  log(): string;
  close(): Promise<void>;
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, "127.0.0.1");
    c.once("connect", () => (c.destroy(), resolve(true)));
    c.once("error", () => resolve(false));
  });
}

export async function startTinyproxy(auth: { user: string; password: string }): Promise<Tinyproxy> {
  const dir = tempDir("shomei-tinyproxy-");
  const port = await freePort();
  const conf = join(dir, "tinyproxy.conf");
  const logFile = join(dir, "tinyproxy.log");
  // No ConnectPort line: CONNECT to any port (the test servers listen on random ones).
  writeFileSync(conf, [
    `Port ${port}`, "Listen 127.0.0.1", "Timeout 30", "MaxClients 20", "LogLevel Info", `LogFile "${logFile}"`,
    "Allow 127.0.0.1", `BasicAuth ${auth.user} ${auth.password}`, "",
  ].join("\n"));
  writeFileSync(logFile, "");
  const child: ChildProcess = spawn("tinyproxy", ["-d", "-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  for (let i = 0; i < 100 && !(await accepting(port)); i++) {
    if (child.exitCode !== null) throw new Error(`tinyproxy exited: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    withCredentials: (user, password) => `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    log: () => readFileSync(logFile, "utf8"),
    close: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    }),
  };
}
