/**
 * The floor of `npm run bench:compare`: a bare Node `https` server with the portal's TLS options
 * (the same server certificate and key, TLS_POLICY, `requestCert` with the same client CAs,
 * `rejectUnauthorized: false` as the portal has) answering every request with one fixed page.
 * Run as its own process so its CPU is read from /proc like the other servers'.
 *
 * Arguments: a JSON file { key, cert, ca: [PEM…], page (file), host }. Prints `listening PORT`.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import { TLS_POLICY } from "../src/http/tls_policy.js";

interface FloorOptions {
  readonly key: string;
  readonly cert: string;
  readonly ca: readonly string[];
  readonly page: string;
  readonly host: string;
}

const o = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")) as FloorOptions;
const page = readFileSync(o.page);
const server = createServer({ key: o.key, cert: o.cert, ...TLS_POLICY, requestCert: true, rejectUnauthorized: false, ca: [...o.ca] }, (_req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": page.length });
  res.end(page);
});
server.listen(0, o.host, () => {
  const a = server.address();
  process.stdout.write(`listening ${typeof a === "object" && a ? a.port : 0}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
