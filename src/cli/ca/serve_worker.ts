/**
 * The entry point of a `serve` worker process (forked by the supervisor through node:cluster,
 * never run by hand). It waits for its init message, serves, and drains when told to.
 */
import cluster from "node:cluster";
import { isShomeiError, ShomeiError } from "../../i18n/errors.js";
import { langFromEnv } from "../../i18n/lang.js";
import type { FromWorker, ToWorker } from "../../server/supervisor.js";
import { startWorker, type RunningWorker } from "../../server/worker.js";
import { formatError } from "../common.js";
import { traceStartup } from "../../util/startup_trace.js";

traceStartup("entry-loaded");

if (cluster.isPrimary || !process.send) {
  process.stderr.write("serve_worker: started by shomei-ca serve only\n");
  process.exit(2);
}

const lang = langFromEnv();
const send = (m: FromWorker, then?: () => void): void => {
  process.send?.(m, undefined, {}, () => then?.());
};

let running: RunningWorker | undefined;
let draining: Promise<void> | undefined;

const drain = (): void => {
  draining ??= (async () => {
    try {
      await running?.drain();
    } finally {
      process.exit(0);
    }
  })();
};

// Ctrl+C reaches every process of the terminal's group: the supervisor decides when workers stop.
process.on("SIGINT", () => undefined);
// SIGTERM to this worker alone: drain and exit (the supervisor then starts a new one).
process.on("SIGTERM", drain);

process.on("message", (m: ToWorker, handle?: unknown) => {
  if (m.t === "drain") return drain();
  if (m.t !== "init") {
    // Before init: older than what init carries (IPC keeps the order), so dropped.
    running?.handle(m, handle);
    return;
  }
  if (running) return;
  traceStartup("init-received");
  running = startWorker(m, () => send({ t: "nudge" }), () => send({ t: "serving" }));
  running.ready.then((ready) => {
    if (draining) return;
    send(ready);
  }, (e: unknown) => {
    if (draining) return;
    // The supervisor reports a coded error (at start it is serve's own error); anything else is printed here.
    if (isShomeiError(e)) {
      send({ t: "failed", code: e.code, params: e.params, message: e.message }, () => process.exit(e.exitCode));
    } else {
      process.stderr.write(formatError(new ShomeiError("INTERNAL"), lang) + "\n");
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      send({ t: "failed", message: e instanceof Error ? e.message : String(e) }, () => process.exit(3));
    }
  });
});
send({ t: "hello" });
