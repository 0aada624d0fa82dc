/**
 * Running a command at a real terminal: Python's pty module gives it a pseudo-terminal (stdin,
 * stdout and stderr all on it, so isTTY is true) and answers the prompts it sees. The output
 * comes back byte for byte (hex between the processes), escape sequences included.
 */
import { run } from "./run.js";

export interface PtyAnswer {
  /** Text that, once seen in the output, is answered (each answer once, followed by Enter). */
  readonly when: string;
  readonly send: string;
}

export interface PtyResult {
  readonly code: number | null;
  /** Everything the command wrote to the terminal, as UTF-8. */
  readonly output: string;
}

const DRIVER = `
import json, os, pty, sys, select, time
job = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execv(job["argv"][0], job["argv"])
seen, answered, deadline = b"", set(), time.time() + job["timeout"]
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    for i, a in enumerate(job["answers"]):
        if i not in answered and a["when"].encode() in seen:
            os.write(fd, a["send"].encode() + b"\\r")
            answered.add(i)
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.hex())
sys.exit(os.waitstatus_to_exitcode(status))
`;

/** Runs `argv` (argv[0] an absolute path) at a pseudo-terminal; `env` is added to this process's environment. */
export async function runAtTerminal(argv: readonly string[], o: { answers?: readonly PtyAnswer[]; env?: NodeJS.ProcessEnv; timeoutSeconds?: number } = {}): Promise<PtyResult> {
  const job = JSON.stringify({ argv, answers: o.answers ?? [], timeout: o.timeoutSeconds ?? 60 });
  const r = await run("python3", ["-c", DRIVER, job], { ...(o.env ? { env: o.env } : {}), timeoutMs: ((o.timeoutSeconds ?? 60) + 10) * 1000 });
  if (r.stderr !== "" && r.stdout === "") throw new Error(`the terminal driver failed: ${r.stderr}`);
  return { code: r.code, output: Buffer.from(r.stdout, "hex").toString("utf8") };
}
