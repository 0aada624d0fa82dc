/**
 * `serve --verbose` logs every request it answers, one JSON line each: also the enrollments the
 * wire path answers ahead of fastify (est/wire.ts), which are most EST requests. Before, an
 * operator who turned the log on saw the CA certificates being fetched but no enrollment.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { addUser, initCa, serve, until } from "../helpers/ca.js";
import { enroll, estRequest, makeCsr } from "../helpers/est.js";

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

test("serve --verbose logs the enrollments answered on the wire, with their status, as fastify logs its requests", { timeout: 120_000 }, async (t) => {
  const ca = await initCa();
  t.after(() => ca.cleanup());
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
});
