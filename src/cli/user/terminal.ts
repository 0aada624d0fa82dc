/**
 * Questions on the terminal for the `shomei` commands: a line (echoed) or a secret (not
 * echoed). Both answer undefined when standard input is not a terminal, so scripts fail
 * with a clear error instead of hanging.
 */
import { createInterface } from "node:readline";
import { Writable } from "node:stream";

/** Asks one question on the terminal (prompt on stderr); undefined when there is no terminal. */
export async function askLine(question: string, opts: { secret?: boolean } = {}): Promise<string | undefined> {
  if (!process.stdin.isTTY) return undefined;
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  rl.on("SIGINT", () => {
    rl.close();
    process.stderr.write("\n");
    process.kill(process.pid, "SIGINT"); // readline swallowed Ctrl-C: end as the shell expects
  });
  try {
    return await new Promise<string>((resolve) => {
      rl.question(question, resolve);
      muted = opts.secret === true; // the question itself has been written by now
    });
  } finally {
    rl.close();
    if (opts.secret === true) process.stderr.write("\n");
  }
}
