/**
 * `serve --verbose` logs every request it answers, one JSON line each: also the enrollments the
 * wire path answers ahead of fastify (est/wire.ts), which are most EST requests, and the OCSP
 * requests the publication listener answers ahead of it (status/ocsp_wire.ts, POST and GET).
 * Before, an operator who turned the log on saw the CA certificates being fetched but no
 * enrollment, and no OCSP request answered from memory.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { addUser, editConfig, initCa, serve, until } from "../helpers/ca.js";
import { enroll, estRequest, makeCsr } from "../helpers/est.js";
import { readCertsOnly } from "../../src/pki/pkcs7.js";
import { fromPem } from "../../src/pki/pem.js";
import { buildOcspRequest, readOcspResponse } from "../../src/pki/ocsp.js";

interface Completed { readonly url: string; readonly statusCode: number; readonly remoteAddress: string; readonly wire: boolean }

interface LogLine {
  readonly msg?: string;
  readonly reqId?: string;
  readonly req?: { readonly url?: string; readonly remoteAddress?: string };
  readonly res?: { readonly statusCode?: number };
  readonly remoteAddress?: string;
  readonly answeredOnTheWire?: boolean;
}

/**
 * The requests serve's log says were answered: fastify's "request completed" lines (the URL and
 * address from the "incoming request" line of the same reqId) and the wire path's (one line each).
 */
function completed(output: string): Completed[] {
  const incoming = new Map<string, LogLine["req"]>();
  const out: Completed[] = [];
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    let j: LogLine;
    try {
      j = JSON.parse(line) as LogLine;
    } catch {
      continue; // the last line, not all read yet
    }
    if (j.msg === "incoming request" && j.reqId) incoming.set(j.reqId, j.req);
    if (j.msg !== "request completed") continue;
    const req = j.answeredOnTheWire ? j.req : incoming.get(j.reqId ?? "");
    out.push({ url: req?.url ?? "", statusCode: j.res?.statusCode ?? 0, remoteAddress: (j.answeredOnTheWire ? j.remoteAddress : req?.remoteAddress) ?? "", wire: j.answeredOnTheWire === true });
  }
  return out;
}

/** The HTTP status of one request on a connection of its own. */
function status(url: string, method: "GET" | "POST", headers: Record<string, string> = {}, body?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = httpRequest(url, { method, headers, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    r.on("error", reject);
    r.end(body);
  });
}

test("serve --verbose logs the enrollments and OCSP requests answered on the wire, with their status, as fastify logs its requests", { timeout: 120_000 }, async (t) => {
  const ca = await initCa();
  t.after(() => ca.cleanup());
  // New certificates are pre-signed within a second, not five.
  editConfig(ca.dir, { revocation: { crlIntervalMinutes: 60, crlValidityHours: 24, checkSeconds: 1, ocspCacheSeconds: 300 } });
  const { passcode } = await addUser(ca.dir, "a0000101");
  const srv = await serve(ca.dir, ["--workers", "1", "--verbose"]);
  t.after(() => srv.stop());

  const wrong = await enroll(srv.estUrl, ca.rootPem, "a0000101", "WRONG-PASSCODE", (await makeCsr("a0000101")).base64);
  assert.equal(wrong.status, 401);
  const good = await enroll(srv.estUrl, ca.rootPem, "a0000101", passcode, (await makeCsr("a0000101")).base64);
  assert.equal(good.status, 200);
  assert.equal((await estRequest(srv.estUrl, "cacerts", ca.rootPem)).status, 200);

  await until("three request lines in the log", () => completed(srv.output()).length >= 3, 10_000);
  const lines = completed(srv.output());
  const enrollments = lines.filter((l) => l.url === "/.well-known/est/simpleenroll");
  assert.deepEqual(enrollments, [
    { url: "/.well-known/est/simpleenroll", statusCode: 401, remoteAddress: "127.0.0.1", wire: true },
    { url: "/.well-known/est/simpleenroll", statusCode: 200, remoteAddress: "127.0.0.1", wire: true },
  ]);
  assert.deepEqual(lines.filter((l) => !l.wire), [{ url: "/.well-known/est/cacerts", statusCode: 200, remoteAddress: "127.0.0.1", wire: false }], "fastify's own lines: the CA certificates");

  // OCSP about the new certificate, once its answer is pre-signed: GET (as Windows asks), GET with its ETag, POST.
  const cert = readCertsOnly(Buffer.from(good.body.replace(/\s+/g, ""), "base64"))[0] ?? assert.fail("no certificate");
  const issuing = fromPem(readFileSync(ca.issuingPem, "utf8"), "CERTIFICATE");
  const request = buildOcspRequest(cert, issuing);
  const getUrl = `${srv.ocspUrl}/${encodeURIComponent(request.toString("base64"))}`;
  let etag = "";
  for (let i = 0; ; i++) {
    const r = await fetch(getUrl);
    const a = readOcspResponse(Buffer.from(await r.arrayBuffer()), cert, issuing, { now: new Date() });
    etag = r.headers.get("etag") ?? "";
    if (a.status === "good" && (a.nextUpdate?.getTime() ?? 0) - a.thisUpdate.getTime() > 3_600_000) break;
    assert.ok(i < 200, "no pre-signed OCSP answer");
    await new Promise((r) => setTimeout(r, 100));
  }
  const before = completed(srv.output()).length;
  // Each on a new connection: fetch's pooled ones from the looking above were handed to Node's parser, for good.
  assert.equal(await status(getUrl, "GET"), 200);
  assert.equal(await status(getUrl, "GET", { "if-none-match": etag }), 304);
  assert.equal(await status(srv.ocspUrl, "POST", { "content-type": "application/ocsp-request" }, request), 200);
  const ocspOnTheWire = (): Completed[] => completed(srv.output()).slice(before).filter((l) => l.wire && l.url.startsWith("/ocsp"));
  await until("three more request lines in the log", () => ocspOnTheWire().length >= 3, 10_000);
  const getPath = new URL(getUrl).pathname;
  // (The line of the last look for the pre-signed answer, fastify's, may come after `before`.)
  assert.deepEqual(ocspOnTheWire(), [
    { url: getPath, statusCode: 200, remoteAddress: "127.0.0.1", wire: true },
    { url: getPath, statusCode: 304, remoteAddress: "127.0.0.1", wire: true },
    { url: "/ocsp", statusCode: 200, remoteAddress: "127.0.0.1", wire: true },
  ]);
});
