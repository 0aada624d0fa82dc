/**
 * Fuzzing the client's reading of what an EST server answers (issue 10): /cacerts bodies
 * (PKCS#7 as base64 or raw DER, any Content-Type and status), RFC 9457 problem answers, and
 * /.well-known/shomei.json, from a real HTTPS server on loopback that answers each case with
 * a mutated response. The client must return or throw a ShomeiError with a catalog code;
 * anything else would reach the user as "a bug in shomei".
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { EstClient } from "../../src/client/est.js";
import { ShomeiError } from "../../src/i18n/errors.js";
import { makeTestCa, type TestCa } from "../helpers/client_pki.js";
import { caseRng, mutate, type Rng } from "./mutate.js";
import { notCoded, targetSeed } from "./campaign.js";
import { DER_AND_KEYS, sample, textMutators } from "./targets.js";

const SEED = 20261204;
const CASES = 200;

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

let ca: TestCa;
let server: Server;
let url: string;
let next: Answer = { status: 200, headers: {}, body: Buffer.alloc(0) };

before(async () => {
  ca = await makeTestCa({ hostnames: ["127.0.0.1", "localhost"] });
  server = createServer({ key: ca.tlsKeyPem, cert: ca.tlsChainPem }, (_req, res) => {
    res.writeHead(next.status, next.headers);
    res.end(next.body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

const PROBLEM = Buffer.from(JSON.stringify({
  type: "urn:shomei:error:PASSCODE_REJECTED", title: "The passcode is not valid.", status: 401, code: "PASSCODE_REJECTED",
  detail: "The passcode is not valid.", remedy: "Check the passcode.", helpdesk: "helpdesk@example.jp", params: { minutes: 5 },
}));
const CODES = ["PASSCODE_REJECTED", "TOO_MANY_ATTEMPTS", "INTERNAL", "__proto__", "constructor", "toString", "BAD_DER", "CLIENT_TOO_OLD", ""];

function answer(rng: Rng): Answer {
  const status = rng.chance(0.7) ? 200 : rng.pick([201, 204, 301, 400, 401, 404, 413, 429, 500, 503]);
  const kind = rng.int(3);
  if (kind === 0) {
    // A PKCS#7 certs-only answer, mutated, as base64 lines or raw DER.
    const { input } = mutate(sample("pkcs7"), rng, DER_AND_KEYS);
    const body = rng.chance(0.3) ? input : Buffer.from((input.toString("base64").match(/.{1,64}/g) ?? []).join("\r\n"), "latin1");
    const type = rng.pick(["application/pkcs7-mime", "application/pkcs7-mime; smime-type=certs-only", "APPLICATION/PKCS7-MIME", "text/plain", "application/pkcs7-mime;;", ""]);
    return { status, headers: type ? { "content-type": type } : {}, body };
  }
  if (kind === 1) {
    // A problem answer whose code, texts and params are mutated (the client reads params back from the texts).
    const o = JSON.parse(PROBLEM.toString("utf8")) as Record<string, unknown>;
    o.code = rng.pick(CODES);
    if (rng.chance(0.3)) o[rng.pick(["title", "detail", "remedy"])] = rng.pick(["", "x".repeat(60_000), "{minutes}", "あと 5 分待ってください。".repeat(2000)]);
    if (rng.chance(0.3)) o.params = rng.pick<unknown>([null, [], "x", { minutes: { a: 1 } }, { version: "9".repeat(500), minimum: "" }]);
    let body: Buffer = Buffer.from(JSON.stringify(o));
    if (rng.chance(0.4)) body = mutate(body, rng, ["jsonPiece", "bitFlip", "truncate"], textMutators).input;
    return { status: status === 200 ? 400 : status, headers: { "content-type": rng.pick(["application/problem+json", "application/json", "text/html"]) }, body };
  }
  // /.well-known/shomei.json
  const base = Buffer.from(JSON.stringify({ portalUrl: `${url}/`, reenrollUrl: `${url}/.well-known/est`, minClientVersion: "0.1.0", helpdesk: "h" }));
  return { status, headers: { "content-type": "application/json" }, body: mutate(base, rng, ["jsonPiece", "jsonValue", "jsonValue", "bitFlip", "truncate"], textMutators).input };
}

test(`fuzz the client's reading of EST answers (cacerts PKCS#7, problem answers, shomei.json): ${CASES} cases, each returned or refused with a catalog code`, async () => {
  const client = new EstClient(url, { env: {}, timeoutMs: 10_000 });
  const seed = targetSeed(SEED, "client-est");
  const failures: string[] = [];
  for (let caseNo = 0; caseNo < CASES; caseNo++) {
    const rng = caseRng(seed, caseNo);
    next = answer(rng);
    try {
      if (next.headers["content-type"] === "application/json" && next.status === 200 && rng.chance(0.8)) await client.describe(ca.rootDer);
      else await client.caCerts();
    } catch (e) {
      // The server's own INTERNAL, relayed as such, is a coded answer too.
      const relayed = e instanceof ShomeiError && e.code === "INTERNAL" && next.body.toString("utf8").includes("\"code\":\"INTERNAL\"");
      const why = relayed ? undefined : notCoded(e);
      if (why) failures.push(`client-est seed=${SEED} case=${caseNo}: ${why.split("\n")[0] ?? ""}\n  HTTP ${next.status} ${JSON.stringify(next.headers)} body(base64)=${next.body.toString("base64").slice(0, 1500)}`);
    }
  }
  assert.ok(failures.length === 0, `${failures.length} failing case(s):\n${failures.slice(0, 8).join("\n")}`);
  // A good answer still reads.
  next = { status: 200, headers: { "content-type": "application/pkcs7-mime" }, body: Buffer.from(sample("pkcs7").toString("base64")) };
  assert.equal((await client.caCerts()).length, 3);
});
