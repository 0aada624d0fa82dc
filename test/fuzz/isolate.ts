/**
 * Parser targets run in a child process: some malformed keys make Node abort in native code
 * (no exception, no handler runs), and a fuzz run must report such a case rather than die
 * with it. The child writes the case it is about to run to a progress file; when it dies, the
 * parent reads that file, records the case as a failure and goes on with the next case in a
 * new child.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CampaignResult, Failure } from "./campaign.js";

const CHILD = fileURLToPath(new URL("./child.js", import.meta.url));

/** The progress line of the case a child was running (campaign.ts writes it). */
interface Progress extends Omit<Failure, "error"> {
  readonly accepted: number;
  readonly codes: Readonly<Record<string, number>>;
  readonly failures: readonly Failure[];
}

interface ChildOutcome {
  readonly result?: CampaignResult;
  readonly died?: { readonly how: string; readonly last?: Progress };
}

function runChild(target: string, seed: number, first: number, cases: number, progress: string, cwd: string): Promise<ChildOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, "--target", target, "--seed", String(seed), "--first", String(first), "--cases", String(cases), "--progress", progress], {
      // In its own folder: an abort's core file, where the system writes one, lands there and goes with it.
      stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_NO_WARNINGS: "1" }, cwd,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    // A case that hangs is a failure too: the child is killed and its case reported like a crash.
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000 + cases * 200);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        // The result is the child's last line (anything a library printed before it is ignored).
        const lines = Buffer.concat(out).toString("utf8").split("\n").filter((l) => l.trim() !== "");
        resolve({ result: JSON.parse(lines[lines.length - 1] ?? "") as CampaignResult });
        return;
      }
      let last: Progress | undefined;
      try {
        last = JSON.parse(readFileSync(progress, "utf8").split("\n")[0] ?? "") as Progress;
      } catch {
        last = undefined;
      }
      const stderr = Buffer.concat(err).toString("utf8").split("\n").filter((l) => l.trim() !== "").slice(0, 8).join("\n");
      const how = signal === "SIGKILL" ? "the case did not finish in time (killed)" : `the process died (${signal ?? `exit ${code}`})`;
      resolve({ died: { how: `${how}: ${stderr}`, ...(last ? { last } : {}) } });
    });
  });
}

/** Runs `cases` cases of one parser target, isolated; a case that kills the process is a failure and the rest still run. */
export async function runIsolated(target: string, seed: number, cases: number, first = 0): Promise<CampaignResult> {
  const dir = mkdtempSync(join(tmpdir(), "shomei-fuzz-"));
  const progress = join(dir, "progress");
  const failures: Failure[] = [];
  const codes: Record<string, number> = {};
  let accepted = 0;
  try {
    for (let from = first; from < first + cases;) {
      rmSync(progress, { force: true });
      const o = await runChild(target, seed, from, first + cases - from, progress, dir);
      if (o.result) {
        failures.push(...o.result.failures);
        accepted += o.result.accepted;
        for (const [k, v] of Object.entries(o.result.codes)) codes[k] = (codes[k] ?? 0) + v;
        break;
      }
      const last = o.died?.last;
      const caseNo = last && last.caseNo >= from ? last.caseNo : from;
      if (last && last.caseNo >= from) {
        // The cases this child finished before it died.
        accepted += last.accepted;
        for (const [k, v] of Object.entries(last.codes)) codes[k] = (codes[k] ?? 0) + v;
        failures.push(...last.failures);
      }
      failures.push({
        target, seed, caseNo, mutators: last?.mutators ?? [], input: last?.input ?? "", error: o.died?.how ?? "the process died",
      });
      from = caseNo + 1;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { target, cases, accepted, codes, failures };
}
