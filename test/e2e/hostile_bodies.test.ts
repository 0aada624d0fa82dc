/**
 * Malformed bodies and headers, sent without any authentication to every listener of a real
 * `shomei-ca serve` (EST, portal, publication): each gets a 4xx with a catalog code (the OCSP
 * route its OCSP malformedRequest), never a 5xx, and the server logs no internal error or stack
 * trace. Issue 10, item 3: invalid JSON on POST /login, POST /logout and simpleenroll was a 500.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";
import { readFileSync } from "node:fs";
import { initCa, serve, type Served, type TestCa } from "../helpers/ca.js";

let ca: TestCa;
let srv: Served;
let portal: URL;

interface Answer { readonly status: number; readonly type: string; readonly body: string }

/** One request exactly as given (path not normalised, headers as they are), on a new connection. */
function send(base: URL, method: string, path: string, body: string | Buffer | undefined, headers: Record<string, string> = {}): Promise<Answer> {
  const tls = base.protocol === "https:";
  return new Promise((resolve, reject) => {
    const req = (tls ? httpsRequest : httpRequest)({
      host: base.hostname, port: base.port, method, path, agent: false,
      headers: { "accept-language": "en", ...headers },
      ...(tls ? { ca: readFileSync(ca.rootPem) } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** The catalog code in a plain-text, problem+json or HTML error answer. */
function codeOf(a: Answer): string | undefined {
  return /^\[([A-Z_]+)\]/.exec(a.body)?.[1] ?? /"code":"([A-Z_]+)"/.exec(a.body)?.[1] ?? /(?:Error code|エラーコード): ([A-Z_]+)/.exec(a.body)?.[1];
}

const JSON_TYPE = { "content-type": "application/json" };

before(async () => {
  ca = await initCa();
  srv = await serve(ca.dir);
  for (let i = 0; i < 100 && !/^Portal: /m.test(srv.output()); i++) await new Promise((r) => setTimeout(r, 50));
  const p = /^Portal: (https:\/\/\S+?)\/?$/m.exec(srv.output())?.[1];
  if (!p) throw new Error(`no Portal line in: ${srv.output()}`);
  portal = new URL(p);
});

after(async () => {
  await srv?.stop();
  ca?.cleanup();
});

describe("invalid JSON is a 400 with a code, not a 500 (issue 10, item 3)", () => {
  test("POST /login on the portal, without a certificate", async () => {
    const r = await send(portal, "POST", "/login", "{not json", JSON_TYPE);
    assert.equal(r.status, 400, r.body);
    assert.equal(codeOf(r), "BAD_JSON");
  });

  test("POST /logout on the portal, without a certificate", async () => {
    const r = await send(portal, "POST", "/logout", "{\"csrf\":", JSON_TYPE);
    assert.equal(r.status, 400, r.body);
    assert.equal(codeOf(r), "BAD_JSON");
  });

  test("simpleenroll without authentication, on the EST port and on the portal's", async () => {
    const est = new URL(srv.url);
    for (const base of [est, portal]) {
      const r = await send(base, "POST", "/.well-known/est/simpleenroll", "{", JSON_TYPE);
      assert.equal(r.status, 400, `${base.href}: ${r.body}`);
      assert.equal(codeOf(r), "BAD_JSON");
      assert.match(r.body, /What to do: /);
    }
  });

  test("an empty JSON body is BAD_JSON too", async () => {
    const r = await send(portal, "POST", "/login", "", JSON_TYPE);
    assert.equal(r.status, 400, r.body);
    assert.equal(codeOf(r), "BAD_JSON");
  });
});

describe("no malformed body or header gets a 5xx, on any listener", () => {
  const multipart = { "content-type": "multipart/form-data; boundary=XyZ" };
  const cases: { name: string; base: () => URL; method: string; path: string; body?: string; headers?: Record<string, string>; status: number; code?: string }[] = [
    { name: "portal: JSON with an odd charset parameter", base: () => portal, method: "POST", path: "/login", body: "{}", headers: { "content-type": "application/json; charset=utf-16" }, status: 403, code: "CERT_REQUIRED" },
    { name: "portal: a multipart body cut off", base: () => portal, method: "POST", path: "/login", body: "--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc", headers: multipart, status: 403 },
    { name: "portal: an unknown content type", base: () => portal, method: "POST", path: "/login", body: "x", headers: { "content-type": "application/x-evil" }, status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
    { name: "portal: a form with broken percent-encoding", base: () => portal, method: "POST", path: "/login", body: "csrf=%zz&userId=%", headers: { "content-type": "application/x-www-form-urlencoded" }, status: 403 },
    { name: "portal: a malformed URL", base: () => portal, method: "GET", path: "/console/users/%E0%A4%A", status: 400, code: "REQUEST_MALFORMED" },
    { name: "portal: a repeated query parameter", base: () => portal, method: "GET", path: "/?lang=en&lang=ja&done=logout&done=x", status: 403, code: "CERT_REQUIRED" },
    { name: "admin API: invalid JSON", base: () => portal, method: "POST", path: "/api/v1/login", body: "{", headers: { ...JSON_TYPE, accept: "application/problem+json" }, status: 400, code: "FIELD_INVALID" },
    { name: "EST: a Basic header that is not base64", base: () => new URL(srv.url), method: "POST", path: "/.well-known/est/simpleenroll", body: "MII=", headers: { "content-type": "application/pkcs10", authorization: "Basic ***" }, status: 401, code: "AUTH_REQUIRED" },
    { name: "EST: a multipart body", base: () => new URL(srv.url), method: "POST", path: "/.well-known/est/simpleenroll", body: "--XyZ\r\n", headers: multipart, status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
    { name: "EST: invalid JSON to a path outside EST", base: () => new URL(srv.url), method: "POST", path: "/.well-known/shomei.json", body: "[", headers: JSON_TYPE, status: 400, code: "BAD_JSON" },
    { name: "EST: an unknown path", base: () => new URL(srv.url), method: "GET", path: "/nothing-here", status: 404, code: "NOT_FOUND" },
    { name: "EST: a malformed URL", base: () => new URL(srv.url), method: "GET", path: "/.well-known/est/%", status: 400, code: "REQUEST_MALFORMED" },
    { name: "publication: invalid JSON to the CRL", base: () => new URL(srv.crlUrl), method: "POST", path: "/crl/issuing.crl", body: "{", headers: JSON_TYPE, status: 400, code: "BAD_JSON" },
    { name: "publication: invalid JSON to OCSP", base: () => new URL(srv.ocspUrl), method: "POST", path: "/ocsp", body: "{", headers: JSON_TYPE, status: 200 },
    { name: "publication: a malformed URL", base: () => new URL(srv.crlUrl), method: "GET", path: "/ca/%", status: 400, code: "REQUEST_MALFORMED" },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const r = await send(c.base(), c.method, c.path, c.body, c.headers ?? {});
      assert.equal(r.status, c.status, r.body.slice(0, 300));
      if (c.code) assert.equal(codeOf(r), c.code, r.body.slice(0, 300));
      if (c.path === "/ocsp") assert.match(r.type, /application\/ocsp-response/);
    });
  }

  test("the server logged no internal error and no stack trace", () => {
    const log = srv.output();
    assert.doesNotMatch(log, /internal error/i);
    assert.doesNotMatch(log, /\n\s+at .+:\d+:\d+\)?\n/);
    assert.doesNotMatch(log, /"level":50/);
  });
});
