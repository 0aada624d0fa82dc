/**
 * The floor of `npm run bench:ocsp`: a bare Node `http` server answering every request with one
 * fixed OCSP answer (the bytes Shomei serves), with the headers Shomei's POST answers carry, in
 * as many worker processes as `serve` runs and accepting connections the way its workers do
 * (node:cluster, SCHED_NONE). What Node itself costs per request; Shomei's own work is the rest.
 *
 * Arguments: PORT ANSWER_FILE WORKERS. Run as its own process so its CPU is read from /proc.
 */
import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

const [port = "0", file = "", workers = "2"] = process.argv.slice(2);
cluster.schedulingPolicy = cluster.SCHED_NONE;
if (cluster.isPrimary) {
  for (let i = 0; i < Number(workers); i++) cluster.fork();
  process.on("SIGTERM", () => process.exit(0));
} else {
  const body = readFileSync(file);
  createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/ocsp-response", "content-length": body.length, "cache-control": "no-store" });
      res.end(body);
    });
  }).listen(Number(port), "127.0.0.1");
}
