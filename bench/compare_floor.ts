/**
 * The floor of `npm run bench:compare`: a bare Node `https` server with the portal's TLS options
 * (the same server certificate and key, TLS_POLICY, `requestCert` with the same client CAs,
 * `rejectUnauthorized: false` as the portal has) answering every request with one fixed page.
 * Run as its own process so its CPU is read from /proc like the other servers'.
 *
 * With `countHandshakes` (a separate instance, never the measured floor) it also counts its TLS
 * handshakes, the resumed ones and the protocols, and answers `GET /.tls-counters` with them as
 * JSON: the check that wrk opens a new, full TLS 1.3 handshake for every EST request. Its
 * session tickets are Node's defaults, as on Shomei's listeners.
 *
 * With `workers` > 1 it is that many processes accepting from one socket through node:cluster with
 * `SCHED_NONE`, as `shomei-ca serve`'s workers accept from the sockets its supervisor binds and
 * hands them (src/server/listeners.ts; the same sharing): the floor for Shomei's default workers, whose
 * CPU per handshake on this 2-core machine includes the cost of two busy processes sharing the cores.
 *
 * With `est` it is the floor of the EST window instead: the EST listener's TLS options (no client
 * certificate asked for), every request's body read to its end, then `page` (a real certs-only
 * answer of this run) sent as simpleenroll's answer is: the TLS handshake, HTTP and the
 * connection's teardown that every enrollment pays, without the enrollment.
 *
 * Arguments: a JSON file { key, cert, ca: [PEM…], page (file), host, countHandshakes?, workers?, est? }. Prints `listening PORT`.
 */
import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { TLSSocket } from "node:tls";
import { TLS_POLICY } from "../src/http/tls_policy.js";

interface FloorOptions {
  readonly key: string;
  readonly cert: string;
  readonly ca: readonly string[];
  readonly page: string;
  readonly host: string;
  readonly countHandshakes?: boolean;
  readonly workers?: number;
  readonly est?: boolean;
}

/** What `GET /.tls-counters` answers. */
export interface TlsCounters {
  readonly handshakes: number;
  readonly resumed: number;
  readonly requests: number;
  readonly protocols: Record<string, number>;
}

const o = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")) as FloorOptions;
const workers = Math.max(1, Math.floor(o.workers ?? 1));
if (workers > 1 && cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let told = false;
  cluster.on("listening", (_w, a) => {
    if (!told) process.stdout.write(`listening ${a.port}\n`);
    told = true;
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on("SIGTERM", () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
    cluster.disconnect(() => process.exit(0));
  });
} else {
  serveFloor();
}

function serveFloor(): void {
  const page = readFileSync(o.page);
  const counters = { handshakes: 0, resumed: 0, requests: 0, protocols: {} as Record<string, number> };
  if (o.est) {
    const estServer = createServer({ key: o.key, cert: o.cert, ...TLS_POLICY }, (req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-transfer-encoding": "base64", "content-type": "application/pkcs7-mime; smime-type=certs-only", "content-length": page.length });
        res.end(page);
      });
    });
    listen(estServer);
    return;
  }
  const server = createServer({ key: o.key, cert: o.cert, ...TLS_POLICY, requestCert: true, rejectUnauthorized: false, ca: [...o.ca] }, o.countHandshakes
    ? (req, res) => {
      if (req.url === "/.tls-counters") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(counters));
        return;
      }
      counters.requests += 1;
      // The check's requests are EST POSTs: read the body before answering, as a real handler does.
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": page.length });
        res.end(page);
      });
    }
    : (_req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": page.length });
      res.end(page);
    });
  if (o.countHandshakes) {
    server.on("secureConnection", (socket: TLSSocket) => {
      counters.handshakes += 1;
      if (socket.isSessionReused()) counters.resumed += 1;
      const p = socket.getProtocol() ?? "none";
      counters.protocols[p] = (counters.protocols[p] ?? 0) + 1;
    });
  }
  listen(server);
}

function listen(server: Server): void {
  server.listen(0, o.host, () => {
    const a = server.address();
    if (cluster.isPrimary) process.stdout.write(`listening ${typeof a === "object" && a ? a.port : 0}\n`);
  });
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}
