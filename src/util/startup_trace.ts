/**
 * Timestamps of `serve`'s start-up phases in every process, written to stderr only when
 * SHOMEI_STARTUP_TRACE is set (bench:revocation sets it and reports where the time goes):
 *
 *   startup-trace EPOCH_MS PID ROLE PHASE
 *
 * EPOCH_MS is wall-clock milliseconds (Date.now() resolution, with a fraction), so lines of the
 * supervisor and its workers line up. The first line of a process is its "process-start"
 * (performance.timeOrigin: when Node began, before any module loaded).
 */
import { performance } from "node:perf_hooks";

const enabled = Boolean(process.env.SHOMEI_STARTUP_TRACE);
let first = true;

const line = (at: number, role: string, phase: string): string => `startup-trace ${at.toFixed(1)} ${process.pid} ${role} ${phase}\n`;

/** "worker-N" in a worker of `serve`, else "supervisor" (or whatever command runs). */
const role = process.env.SHOMEI_WORKER ? `worker-${process.env.SHOMEI_WORKER}` : "supervisor";

/** Notes that this process reached `phase` now. Costs nothing when tracing is off. */
export function traceStartup(phase: string): void {
  if (!enabled) return;
  let text = "";
  if (first) {
    first = false;
    text += line(performance.timeOrigin, role, "process-start");
  }
  process.stderr.write(text + line(performance.timeOrigin + performance.now(), role, phase));
}

/** One parsed trace line. */
export interface StartupMark {
  readonly at: number;
  readonly pid: number;
  readonly role: string;
  readonly phase: string;
}

/** The trace lines in a process's stderr text. */
export function parseStartupTrace(stderr: string): StartupMark[] {
  const marks: StartupMark[] = [];
  for (const m of stderr.matchAll(/^startup-trace (\d+(?:\.\d+)?) (\d+) (\S+) (\S+)$/gm)) {
    marks.push({ at: Number(m[1]), pid: Number(m[2]), role: m[3] ?? "", phase: m[4] ?? "" });
  }
  return marks;
}
