/**
 * The EST client against the real Shomei service (one CA for the file, started in this
 * process; see test/helpers/client_real_server.ts). The stand-in EST server
 * (test/helpers/client_est_server.ts) is kept only where a test needs an answer the real
 * service never gives; each such test says which.
 */
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createServer, type AddressInfo } from "node:net";
import { generateKeyPair, keyObjectSigner } from "../pki/keys.js";
import { buildCsr } from "../pki/csr.js";
import { readCertificate } from "../pki/certificate.js";
import { ShomeiError, isShomeiError, type ErrorCode } from "../i18n/errors.js";
import { EstClient, normaliseServerUrl, problemToError, readDescription } from "./est.js";
import { proxyFor } from "./proxy.js";
import { makeTestCa } from "../../test/helpers/client_pki.js";
import { startTestEstServer } from "../../test/helpers/client_est_server.js";
import { startTestProxy } from "../../test/helpers/client_proxy.js";
import { startRealEstServer, type RealEstServer } from "../../test/helpers/client_real_server.js";
import { needs } from "../../test/helpers/tools.js";
import { freePort } from "../../test/helpers/ports.js";

const NO_PROXY_ENV = { env: {} };

function hasCode(code: ErrorCode): (e: unknown) => boolean {
  return (e) => {
    assert.ok(isShomeiError(e), String(e));
    assert.equal(e.code, code, e.message);
    return true;
  };
}

async function csrFor(userId: string): Promise<Buffer> {
  const key = await generateKeyPair("ec-p256");
  return buildCsr({ publicKey: key.publicKey, signer: keyObjectSigner(key.privateKey), commonName: userId });
}

let srv: RealEstServer;
before(async () => { srv = await startRealEstServer(); });
after(async () => { await srv?.stop(); });
beforeEach(() => { srv.reset(); });

test("normaliseServerUrl accepts the base URL in the forms users paste, and only https", () => {
  for (const input of ["https://ca.example.jp", "https://ca.example.jp/", "https://ca.example.jp/.well-known/est", " https://CA.example.jp/.well-known/est/ "]) {
    assert.equal(normaliseServerUrl(input), "https://ca.example.jp");
  }
  assert.equal(normaliseServerUrl("https://127.0.0.1:8443/shomei/"), "https://127.0.0.1:8443/shomei");
  for (const bad of ["http://ca.example.jp", "ca.example.jp", "https://u:p@ca.example.jp", "https://ca.example.jp/?x=1"]) {
    assert.throws(() => normaliseServerUrl(bad), hasCode("FIELD_INVALID"), bad);
  }
});

test("shomei.json: a URL in it that the client could not use is the server's fault (SERVER_BAD_RESPONSE), not a wrong --server", () => {
  const json = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
  assert.deepEqual(readDescription(json({ portalUrl: "https://ca.example.jp:8444/", reenrollUrl: "https://ca.example.jp:8444/.well-known/est", helpdesk: "", x: 1 })),
    { portalUrl: "https://ca.example.jp:8444/", reenrollUrl: "https://ca.example.jp:8444/.well-known/est" });
  // Found by the fuzz suite: these made renewal fail with FIELD_INVALID naming --server, which the user never typed.
  for (const reenrollUrl of ["http://ca.example.jp:8444/", "https://", "not a url", "https://u:p@ca.example.jp/"]) {
    assert.throws(() => readDescription(json({ reenrollUrl })), hasCode("SERVER_BAD_RESPONSE"), reenrollUrl);
  }
  assert.throws(() => readDescription(json({ portalUrl: "javascript:alert(1)" })), hasCode("SERVER_BAD_RESPONSE"));
  // Not a JSON object: nothing to follow (as from an EST server that publishes no description).
  for (const body of ["", "[1]", "null", "\"x\"", "{", "[".repeat(100_000)]) assert.equal(readDescription(Buffer.from(body)), undefined, body.slice(0, 10));
});

test("problemToError: a catalog code becomes that error; anything else is SERVER_BAD_RESPONSE", () => {
  const json = (status: number, body: unknown, type = "application/problem+json") =>
    ({ status, headers: { "content-type": type }, body: Buffer.from(JSON.stringify(body)) });
  assert.equal(problemToError(json(401, { code: "PASSCODE_REJECTED", title: "x" })).code, "PASSCODE_REJECTED");
  const withParams = problemToError(json(413, { code: "BODY_TOO_LARGE", params: { limit: 65536 } }));
  assert.equal(withParams.text("en"), "The request body is too large (limit 65536 bytes).");
  const unknown = problemToError(json(418, { code: "NO_SUCH_CODE", title: "teapot" }));
  assert.equal(unknown.code, "SERVER_BAD_RESPONSE");
  assert.match(unknown.text("en"), /HTTP 418: teapot/);
  assert.equal(problemToError(json(500, { code: "toString" })).code, "SERVER_BAD_RESPONSE");
  // parameters are read back from the server's own text of the same entry; the helpdesk is kept
  const onServer = new ShomeiError("BODY_TOO_LARGE", { limit: 65536 });
  const tooLarge = problemToError(json(413, {
    code: "BODY_TOO_LARGE", title: onServer.text("ja"), detail: onServer.text("ja"), remedy: onServer.remedy("ja"), helpdesk: "0120-000-000",
  }));
  assert.equal(tooLarge.params.limit, "65536");
  assert.equal(tooLarge.params.helpdesk, "0120-000-000");
  assert.equal(tooLarge.text("en"), onServer.text("en"));
  assert.equal(problemToError({ status: 502, headers: { "content-type": "text/html" }, body: Buffer.from("<html>") }).code, "SERVER_BAD_RESPONSE");
});

test("cacerts: fetched without verifying the server, no credentials sent; both certificates come back", async () => {
  const certs = await new EstClient(srv.url, { ...NO_PROXY_ENV, userAgent: "shomei/test" }).caCerts();
  assert.deepEqual(new Set(certs.map((c) => c.toString("hex"))), new Set([srv.rootDer, srv.issuingDer].map((c) => c.toString("hex"))));
  assert.equal(srv.requests.length, 1);
  const req = srv.requests[0];
  assert.ok(req);
  assert.equal(req.method, "GET");
  assert.equal(req.path, "/.well-known/est/cacerts");
  assert.equal(req.headers.authorization, undefined);
  assert.equal(req.headers["user-agent"], "shomei/test");
});

// Stand-in: Shomei's service always lists the issuing CA first; this one lists the root first.
test("cacerts: both certificates come back whichever order the server lists them in", async (t) => {
  const ca = await makeTestCa();
  const server = await startTestEstServer(ca);
  t.after(() => server.close());
  for (const rootFirst of [false, true]) {
    server.rootFirst = rootFirst;
    const certs = await new EstClient(server.url, NO_PROXY_ENV).caCerts();
    assert.deepEqual(new Set(certs.map((c) => c.toString("hex"))), new Set([ca.rootDer, ca.issuingDer].map((c) => c.toString("hex"))));
  }
});

test("simpleenroll: Basic credentials, application/pkcs10 base64 body, certificate returned over verified TLS", async (t) => {
  if (!(await needs(t, "python3"))) return;
  const user = "a0000201";
  const passcode = await srv.addUser(user);
  const typed = passcode.toLowerCase().replace(/-/g, " "); // as a user might type it
  const csr = await csrFor(user);
  const certs = await new EstClient(srv.url, NO_PROXY_ENV).simpleEnroll(csr, { userId: user, passcode: typed }, srv.rootDer);
  assert.equal(certs.length, 1);
  assert.equal(readCertificate(certs[0] as Buffer).commonName, user);
  assert.deepEqual(await srv.issued(user), certs);
  const req = srv.requests.at(-1);
  assert.ok(req);
  assert.equal(req.path, "/.well-known/est/simpleenroll");
  assert.equal(req.headers["content-type"], "application/pkcs10");
  assert.equal(req.headers.authorization, `Basic ${Buffer.from(`${user}:${typed}`).toString("base64")}`);
  const lines = req.body.trim().split(/\r\n/);
  assert.ok(lines.every((l) => l.length <= 64));
  assert.deepEqual(Buffer.from(lines.join(""), "base64"), csr);
});

test("simpleenroll: the server's problem code comes through as our error", async (t) => {
  if (!(await needs(t, "python3"))) return;
  const user = "a0000202";
  await srv.addUser(user);
  await assert.rejects(
    new EstClient(srv.url, NO_PROXY_ENV).simpleEnroll(await csrFor(user), { userId: user, passcode: "WRONG" }, srv.rootDer),
    (e) => hasCode("PASSCODE_WRONG")(e) && (e as { params: Record<string, unknown> }).params.triesLeft === 4,
  );
  assert.deepEqual(await srv.passcode(user), { status: "active", failedAttempts: 1 });
});

// Stand-in: Shomei's service never answers with HTML, a body that is not base64 or not PKCS#7, or 202.
test("simpleenroll: an answer that is not PKCS#7 is SERVER_BAD_RESPONSE", async (t) => {
  const ca = await makeTestCa();
  const server = await startTestEstServer(ca);
  t.after(() => server.close());
  server.passcodes.set("a0000001", "ABCD-EFGH");
  const client = new EstClient(server.url, NO_PROXY_ENV);
  const csr = await csrFor("a0000001");
  const creds = { userId: "a0000001", passcode: "ABCD-EFGH" };
  server.override = () => ({ status: 200, headers: { "content-type": "text/html" }, body: "<html>login</html>" });
  await assert.rejects(client.simpleEnroll(csr, creds, ca.rootDer), hasCode("SERVER_BAD_RESPONSE"));
  server.override = () => ({ status: 200, headers: { "content-type": "application/pkcs7-mime" }, body: "not base64 !!" });
  await assert.rejects(client.simpleEnroll(csr, creds, ca.rootDer), hasCode("SERVER_BAD_RESPONSE"));
  server.override = () => ({ status: 202, headers: { "content-type": "text/plain", "retry-after": "60" }, body: "" });
  await assert.rejects(client.simpleEnroll(csr, creds, ca.rootDer), hasCode("SERVER_BAD_RESPONSE"));
  server.override = () => ({ status: 200, headers: { "content-type": "application/pkcs7-mime" }, body: "MIIB" });
  await assert.rejects(client.simpleEnroll(csr, creds, ca.rootDer), hasCode("SERVER_BAD_RESPONSE"));
});

test("simpleenroll refuses a server that does not chain to the confirmed root, before sending the passcode", async () => {
  const other = await makeTestCa(); // only its root is used: the one the user (wrongly) confirmed
  await assert.rejects(
    new EstClient(srv.url, NO_PROXY_ENV).simpleEnroll(await csrFor("a0000203"), { userId: "a0000203", passcode: "ABCD-EFGH" }, other.rootDer),
    hasCode("SERVER_TLS_UNTRUSTED"),
  );
  assert.equal(srv.requests.length, 0);
});

test("simpleenroll refuses a certificate for another host name", async () => {
  // A real CA set up for est.example.invalid only, reached as 127.0.0.1.
  const elsewhere = await startRealEstServer({ initArgs: ["--hostname", "est.example.invalid"] });
  try {
    await assert.rejects(
      new EstClient(elsewhere.url, NO_PROXY_ENV).simpleEnroll(await csrFor("a0000204"), { userId: "a0000204", passcode: "x" }, elsewhere.rootDer),
      hasCode("SERVER_TLS_UNTRUSTED"),
    );
    assert.equal(elsewhere.requests.length, 0);
  } finally {
    await elsewhere.stop();
  }
});

test("a server that is not there is SERVER_UNREACHABLE", async () => {
  const port = await freePort();
  await assert.rejects(new EstClient(`https://127.0.0.1:${port}`, NO_PROXY_ENV).caCerts(), hasCode("SERVER_UNREACHABLE"));
});

test("proxyFor: HTTPS_PROXY / https_proxy, NO_PROXY, and only http:// proxies", () => {
  const target = new URL("https://ca.example.jp:8443/x");
  assert.equal(proxyFor(target, {}), undefined);
  assert.equal(proxyFor(target, { HTTPS_PROXY: "http://proxy:8080" })?.host, "proxy:8080");
  assert.equal(proxyFor(target, { https_proxy: "proxy.corp:3128" })?.href, "http://proxy.corp:3128/");
  assert.equal(proxyFor(target, { HTTPS_PROXY: "http://proxy:8080", NO_PROXY: "localhost,.example.jp" }), undefined);
  assert.equal(proxyFor(target, { HTTPS_PROXY: "http://proxy:8080", NO_PROXY: "ca.example.jp:8443" }), undefined);
  assert.ok(proxyFor(target, { HTTPS_PROXY: "http://proxy:8080", NO_PROXY: "ca.example.jp:443" }));
  assert.ok(proxyFor(target, { HTTPS_PROXY: "http://proxy:8080", NO_PROXY: "xample.jp" }));
  assert.equal(proxyFor(target, { HTTPS_PROXY: "http://proxy:8080", no_proxy: "*" }), undefined);
  assert.throws(() => proxyFor(target, { HTTPS_PROXY: "socks5://proxy:1080" }), hasCode("FIELD_INVALID"));
});

test("through an authenticating CONNECT proxy: credentials from the proxy URL, TLS end to end", async (t) => {
  if (!(await needs(t, "python3"))) return;
  const user = "a0000205";
  const passcode = await srv.addUser(user);
  const proxy = await startTestProxy({ user: "taro", password: "p@ss:word" });
  t.after(() => proxy.close());
  const proxyUrl = new URL(proxy.url);
  proxyUrl.username = "taro";
  proxyUrl.password = encodeURIComponent("p@ss:word");
  const client = new EstClient(srv.url, { env: { HTTPS_PROXY: proxyUrl.href } });
  await client.caCerts();
  const certs = await client.simpleEnroll(await csrFor(user), { userId: user, passcode }, srv.rootDer);
  assert.equal(certs.length, 1);
  assert.deepEqual(await srv.issued(user), certs);
  assert.equal(proxy.connects.length, 2);
  assert.equal(proxy.connects[0]?.target, `127.0.0.1:${srv.port}`);
  assert.equal(proxy.connects[0]?.authorization, `Basic ${Buffer.from("taro:p@ss:word").toString("base64")}`);

  // a wrong root is still refused through the tunnel
  const other = await makeTestCa();
  await assert.rejects(client.simpleEnroll(await csrFor(user), { userId: user, passcode: "x" }, other.rootDer), hasCode("SERVER_TLS_UNTRUSTED"));
});

test("a proxy that wants credentials says so (PROXY_AUTH_REQUIRED); NO_PROXY bypasses it", async (t) => {
  const proxy = await startTestProxy({ user: "taro", password: "secret" });
  t.after(() => proxy.close());
  await assert.rejects(new EstClient(srv.url, { env: { HTTPS_PROXY: proxy.url } }).caCerts(), hasCode("PROXY_AUTH_REQUIRED"));
  assert.equal(srv.requests.length, 0);
  const direct = await new EstClient(srv.url, { env: { HTTPS_PROXY: proxy.url, NO_PROXY: "127.0.0.1" } }).caCerts();
  assert.equal(direct.length, 2);
  assert.equal(proxy.connects.length, 1);
});

// Not an EST server at all: a TCP listener that reads and never answers (no real server can be made to hang).
test("a server that accepts the connection but never answers times out as SERVER_UNREACHABLE", async (t) => {
  const silent = createServer((socket) => { socket.on("error", () => undefined); socket.resume(); }); // reads, never answers
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => { silent.close(() => r()); }));
  const port = (silent.address() as AddressInfo).port;
  const started = Date.now();
  await assert.rejects(new EstClient(`https://127.0.0.1:${port}`, { env: {}, timeoutMs: 300 }).caCerts(), hasCode("SERVER_UNREACHABLE"));
  assert.ok(Date.now() - started < 5000);
});
