/** Running commands (ours and other tools) from tests. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const SHOMEI_CA = fileURLToPath(new URL("../../src/cli/shomei-ca.js", import.meta.url));
export const SHOMEI = fileURLToPath(new URL("../../src/cli/shomei.js", import.meta.url));

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly input?: string | Buffer;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly timeoutMs?: number;
  /** Run as this user and group (the caller must be root). */
  readonly uid?: number;
  readonly gid?: number;
}

/** Runs a program to completion and collects its output (never throws on a non-zero exit). */
export function run(cmd: string, args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], {
      env: { ...process.env, ...o.env }, cwd: o.cwd, stdio: ["pipe", "pipe", "pipe"],
      ...(o.uid !== undefined ? { uid: o.uid } : {}), ...(o.gid !== undefined ? { gid: o.gid } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
    // A program may exit without reading its input (an early error): that is its answer, not ours.
    child.stdin.on("error", () => undefined);
    if (o.input === undefined) child.stdin.end();
    else child.stdin.end(o.input);
  });
}

/** `shomei-ca …` (English output unless the test sets LANG). */
export function shomeiCa(args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [SHOMEI_CA, ...args], { ...o, env: { LANG: "en_US.UTF-8", ...o.env } });
}

/** `shomei …` */
export function shomei(args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [SHOMEI, ...args], { ...o, env: { LANG: "en_US.UTF-8", ...o.env } });
}
