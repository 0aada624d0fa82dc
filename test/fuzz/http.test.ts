/**
 * Fuzzing the service's HTTP edges (issue 10): EST bodies and headers, OCSP requests, the
 * portal's forms, JSON, simplereenroll and CSV upload. Fixed seeds; every case must be
 * answered below 500 (with a catalog code where the route renders errors), and afterwards a
 * good request must still work. A failure prints the seed, case number and the request.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { ERRORS } from "../../src/i18n/errors.js";
import { buildPublicationApp } from "../../src/server/publication.js";
import { buildOcspRequest, readOcspResponse } from "../../src/pki/ocsp.js";
import { fromPem } from "../../src/pki/pem.js";
import { startPortalEnv, Browserish, OPERATOR_ID, type PortalEnv, type PortalUser } from "../helpers/portal.js";
import { makeCsr } from "../helpers/est.js";
import { caseRng } from "./mutate.js";
import { targetSeed } from "./campaign.js";
import { sample } from "./targets.js";
import { answerCode, consoleBulkCase, describeRequest, estCase, inject, ocspCase, ocspResponseStatus, portalCase, tlsClient, type FuzzAnswer, type FuzzRequest } from "./http.js";

/** Fixed seed; `npm run fuzz` runs the parser targets with other seeds and more cases. */
const SEED = 20261204;
const EST_CASES = 400;
const OCSP_CASES = 300;
const PORTAL_CASES = 250;
const CONSOLE_CASES = 60;

let env: PortalEnv;
let estApp: FastifyInstance | undefined;
let user: PortalUser;
let operator: PortalUser;
const csrSamples = [sample("csrP256"), sample("csrP384"), sample("csrRsa2048")];

before(async () => {
  env = await startPortalEnv({ configure: (app) => { estApp = app; } });
  operator = await env.enroll(OPERATOR_ID, { register: false });
  user = await env.enroll("a0000001");
});
after(async () => { await env?.stop(); });

/** How often each answer came (status and code): to see the cases reach past authentication. */
const seen = new Map<string, number>();

/** Runs the cases; returns the failures as printable lines. */
async function campaign(name: string, cases: number, make: (caseNo: number) => FuzzRequest, send: (r: FuzzRequest) => Promise<FuzzAnswer>, check: (r: FuzzRequest, a: FuzzAnswer) => string | undefined): Promise<string[]> {
  const failures: string[] = [];
  seen.clear();
  for (let caseNo = 0; caseNo < cases; caseNo++) {
    const r = make(caseNo);
    let why: string | undefined;
    try {
      const a = await send(r);
      const key = `${a.status} ${answerCode(a) ?? ""}`.trim();
      seen.set(key, (seen.get(key) ?? 0) + 1);
      why = check(r, a);
    } catch (e) {
      why = `the request failed: ${String(e)}`;
    }
    if (why) failures.push(`${name} seed=${SEED} case=${caseNo}: ${why}\n  ${describeRequest(r)}`);
  }
  return failures;
}

const firstLine = (a: FuzzAnswer): string => a.body.toString("utf8").split("\n").find((l) => l.trim() !== "")?.slice(0, 200) ?? "";

/** Below 500, and a 4xx names a catalog code (except the bare 404 of an unknown path). */
function coded(r: FuzzRequest, a: FuzzAnswer): string | undefined {
  if (a.status >= 500 || a.status < 100) return `HTTP ${a.status}: ${firstLine(a)}`;
  if (a.status >= 400 && a.status !== 404) {
    const code = answerCode(a);
    if (!code || !Object.hasOwn(ERRORS, code)) return `HTTP ${a.status} without a catalog code: ${firstLine(a)}`;
  }
  return undefined;
}

/** Asserts no case failed; the message lists the first few, each replayable from its seed, number and request. */
function noFailures(failures: readonly string[]): void {
  assert.ok(failures.length === 0, `${failures.length} failing case(s):\n${failures.slice(0, 8).join("\n")}`);
}

test("fuzz EST (simpleenroll bodies, Authorization, Content-Type, paths): never a 5xx, and the passcode still works afterwards", async () => {
  assert.ok(estApp);
  const app = estApp;
  await env.server.services.registration.addUser({ userId: "a0000002", email: "a0000002@example.jp", name: "利用者 二" }, "operator:test");
  const { passcode } = await env.secretsFor("a0000002@example.jp");
  assert.ok(passcode);
  const validAuth = `Basic ${Buffer.from(`a0000002:${passcode}`).toString("base64")}`;
  const seed = targetSeed(SEED, "http-est");
  let issued = 0;
  const failures = await campaign("http-est", EST_CASES, (n) => estCase(caseRng(seed, n), { csrSamples, validAuth }), (r) => inject(app, r), (r, a) => {
    if (a.status === 200 && r.url.endsWith("/simpleenroll")) issued++;
    return coded(r, a);
  });
  noFailures(failures);
  // Mutants are not signed by their key: none may have been issued a certificate.
  assert.equal(issued, 0);
  // The cases got past authentication into the CSR checks.
  assert.ok(["400 BAD_DER", "400 CSR_SIGNATURE_INVALID"].every((k) => (seen.get(k) ?? 0) > 0), JSON.stringify([...seen]));
  const good = await makeCsr("a0000002");
  const ok = await inject(app, { method: "POST", url: "/.well-known/est/simpleenroll", headers: { authorization: validAuth, "content-type": "application/pkcs10", "content-transfer-encoding": "base64" }, body: Buffer.from(good.base64) });
  assert.equal(ok.status, 200, ok.body.toString("utf8"));
  const cacerts = await inject(app, { method: "GET", url: "/.well-known/est/cacerts", headers: {} });
  assert.equal(cacerts.status, 200);
});

test("fuzz OCSP requests (GET and POST) and publication paths: never a 5xx, never internalError, and a good request is answered good", async () => {
  const services = env.server.services;
  const app = await buildPublicationApp(services, { logLevel: "silent", clock: () => env.clock.now });
  try {
    const userDer = fromPem(user.certPem, "CERTIFICATE");
    const request = buildOcspRequest(userDer, services.issuingDer, { nonce: Buffer.alloc(16, 7) });
    const seed = targetSeed(SEED, "http-ocsp");
    const failures = await campaign("http-ocsp", OCSP_CASES, (n) => ocspCase(caseRng(seed, n), { request }), (r) => inject(app, r), (r, a) => {
      if (a.status >= 500) return `HTTP ${a.status}: ${firstLine(a)}`;
      if (r.url.startsWith("/ocsp/") || (r.method === "POST" && r.url === "/ocsp")) {
        if (a.status !== 200) return `HTTP ${a.status} from the OCSP responder`;
        const st = ocspResponseStatus(a.body);
        if (st === undefined || st === 2) return `OCSP responseStatus ${st ?? "unreadable"} (2 = internalError)`;
      }
      return undefined;
    });
    noFailures(failures);
    const good = await inject(app, { method: "POST", url: "/ocsp", headers: { "content-type": "application/ocsp-request" }, body: request });
    assert.equal(good.status, 200);
    assert.equal(readOcspResponse(good.body, userDer, services.issuingDer, { nonce: Buffer.alloc(16, 7), now: env.clock.now }).status, "good");
  } finally {
    await app.close();
  }
});

test("fuzz the portal over TLS with a client certificate (login and logout forms, JSON API, simplereenroll, CSV upload): never a 5xx, and others still log in", async () => {
  const rootPem = readFileSync(env.ca.rootPem, "utf8");
  const asUser = tlsClient(env.url, rootPem, user);
  const asOperator = tlsClient(env.url, rootPem, operator);
  try {
    const page = await asUser.send({ method: "GET", url: "/", headers: { "accept-language": "en" } });
    const csrf = Browserish.csrf({ status: page.status, headers: page.headers, body: page.body.toString("utf8"), setCookies: [] });
    const csv = [
      Buffer.from("ユーザID,メールアドレス,氏名,所属,言語\r\nb0000001,b1@example.jp,山田 太郎,総務部,日本語\r\n", "utf8"),
      Buffer.from("userId,email,name\nb0000002,b2@example.jp,\"佐藤 \"\"花子\"\"\"\n", "utf8"),
    ];
    const seed = targetSeed(SEED, "http-portal");
    const failures = await campaign("http-portal", PORTAL_CASES, (n) => portalCase(caseRng(seed, n), { userId: user.userId, csrf, csrSamples, csv }),
      (r) => (r.url.startsWith("/api/v1/users") ? asOperator : asUser).send({ ...r, headers: { "accept-language": "en", ...r.headers } }), coded);
    noFailures(failures);
  } finally {
    asUser.close();
    asOperator.close();
  }
  // A good request still works: another user logs in with the initial password.
  const other = await env.enroll("a0000003");
  const b = new Browserish(env.url, rootPem, other);
  const r = await b.login(other.userId, other.password);
  assert.equal(r.status, 303, Browserish.errorCode(r) ?? r.body.slice(0, 300));
});

test("fuzz the operator console's CSV upload (multipart/form-data, dry run): never a 5xx, and a good upload still reads", async () => {
  const rootPem = readFileSync(env.ca.rootPem, "utf8");
  const b = new Browserish(env.url, rootPem, operator);
  await b.loginAndChange(operator.userId, operator.password);
  const page = await b.get("/console/bulk");
  assert.equal(page.status, 200, Browserish.errorCode(page));
  const csrf = Browserish.csrf(page);
  const csv = [Buffer.from("ユーザID,メールアドレス,氏名,所属,言語\r\nc0000001,c1@example.jp,山田 太郎,総務部,日本語\r\n", "utf8")];
  const seed = targetSeed(SEED, "http-console-bulk");
  const send = async (r: FuzzRequest): Promise<FuzzAnswer> => {
    const res = await b.request(r.method, r.url, r.body, r.headers);
    return { status: res.status, headers: res.headers, body: Buffer.from(res.body, "utf8") };
  };
  const failures = await campaign("http-console-bulk", CONSOLE_CASES, (n) => consoleBulkCase(caseRng(seed, n), { csrf, csv }), send, coded);
  noFailures(failures);
  const boundary = "----shomeiGood";
  const body = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n${csrf}\r\n--${boundary}\r\nContent-Disposition: form-data; name="dryRun"\r\n\r\n1\r\n--${boundary}\r\nContent-Disposition: form-data; name="csv"; filename="u.csv"\r\nContent-Type: text/csv\r\n\r\n${csv[0]?.toString("utf8") ?? ""}\r\n--${boundary}--\r\n`);
  const ok = await send({ method: "POST", url: "/console/bulk", headers: { "content-type": `multipart/form-data; boundary=${boundary}` }, body });
  assert.equal(ok.status, 200, ok.body.toString("utf8").slice(0, 300));
  assert.match(ok.body.toString("utf8"), /c0000001/);
});
