/**
 * The HTTP fuzz campaigns, shared by the tests (fixed seed, a few hundred cases) and
 * `npm run fuzz -- --http` (any seed, any number): EST through inject() on the real EST app,
 * OCSP and paths on the publication app, the portal over TLS with a client certificate, and
 * the operator console's multipart CSV upload. Each returns its failures as printable lines
 * (seed, case number, request) and what it answered how often; a good request afterwards
 * that does not work is a failure too.
 */
import { readFileSync } from "node:fs";
import { request } from "node:https";
import type { FastifyInstance } from "fastify";
import { ERRORS } from "../../src/i18n/errors.js";
import { buildPublicationApp } from "../../src/server/publication.js";
import { buildOcspRequest, readOcspResponse } from "../../src/pki/ocsp.js";
import { fromPem, toPem } from "../../src/pki/pem.js";
import { startPortalEnv, Browserish, OPERATOR_ID, type PortalEnv, type PortalUser } from "../helpers/portal.js";
import { makeCsr } from "../helpers/est.js";
import { caseRng, mutate } from "./mutate.js";
import { targetSeed } from "./campaign.js";
import { DER_ONLY, sample } from "./targets.js";
import { answerCode, consoleBulkCase, describeRequest, estCase, inject, ocspCase, ocspResponseStatus, portalCase, tlsClient, type FuzzAnswer, type FuzzRequest } from "./http.js";

export interface HttpFuzzEnv {
  readonly env: PortalEnv;
  readonly estApp: FastifyInstance;
  /** The user whose certificate the portal cases present (wrong passwords may lock it). */
  readonly user: PortalUser;
  readonly operator: PortalUser;
  readonly rootPem: string;
  stop(): Promise<void>;
}

export interface HttpCampaignResult {
  readonly name: string;
  readonly cases: number;
  readonly failures: readonly string[];
  /** "STATUS CODE" → how often. */
  readonly seen: ReadonlyMap<string, number>;
}

/** The real service in-process (real TLS, SQLite), with an operator and a user enrolled. */
export async function startHttpFuzzEnv(): Promise<HttpFuzzEnv> {
  let estApp: FastifyInstance | undefined;
  const env = await startPortalEnv({ configure: (app) => { estApp = app; } });
  try {
    const operator = await env.enroll(OPERATOR_ID, { register: false });
    const user = await env.enroll("a0000001");
    if (!estApp) throw new Error("the EST app was not built");
    return { env, estApp, user, operator, rootPem: readFileSync(env.ca.rootPem, "utf8"), stop: () => env.stop() };
  } catch (e) {
    await env.stop();
    throw e;
  }
}

const firstLine = (a: FuzzAnswer): string => a.body.toString("utf8").split("\n").find((l) => l.trim() !== "")?.slice(0, 200) ?? "";

/** Below 500, and a 4xx names a catalog code (except the bare 404 of an unknown path). */
export function coded(_r: FuzzRequest, a: FuzzAnswer): string | undefined {
  if (a.status >= 500 || a.status < 100) return `HTTP ${a.status}: ${firstLine(a)}`;
  if (a.status >= 400 && a.status !== 404) {
    const code = answerCode(a);
    if (!code || !Object.hasOwn(ERRORS, code)) return `HTTP ${a.status} without a catalog code: ${firstLine(a)}`;
  }
  return undefined;
}

async function campaign(
  name: string, seed: number, cases: number, make: (caseNo: number) => FuzzRequest,
  send: (r: FuzzRequest) => Promise<FuzzAnswer>, check: (r: FuzzRequest, a: FuzzAnswer) => string | undefined,
): Promise<{ failures: string[]; seen: Map<string, number> }> {
  const failures: string[] = [];
  const seen = new Map<string, number>();
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
    if (why) failures.push(`${name} seed=${seed} case=${caseNo}: ${why}\n  ${describeRequest(r)}`);
  }
  return { failures, seen };
}

const csrSamples = [sample("csrP256"), sample("csrP384"), sample("csrRsa2048")];
let userCounter = 100;
const nextUserId = (): string => `a${String(userCounter++).padStart(7, "0")}`;

/**
 * EST: simpleenroll bodies, Authorization, Content-Type and paths, for a newly registered
 * user (a correct passcode or none: five wrong ones would void it). No mutant may be issued
 * a certificate, and the passcode still works afterwards.
 */
export async function fuzzEst(h: HttpFuzzEnv, seed: number, cases: number): Promise<HttpCampaignResult> {
  const userId = nextUserId();
  const email = `${userId}@example.jp`;
  await h.env.server.services.registration.addUser({ userId, email, name: `利用者 ${userId}` }, "operator:test");
  const { passcode } = await h.env.secretsFor(email);
  if (!passcode) throw new Error(`no passcode mailed to ${email}`);
  const validAuth = `Basic ${Buffer.from(`${userId}:${passcode}`).toString("base64")}`;
  const s = targetSeed(seed, "http-est");
  const { failures, seen } = await campaign("http-est", seed, cases, (n) => estCase(caseRng(s, n), { csrSamples, validAuth }), (r) => inject(h.estApp, r), (r, a) => {
    if (a.status === 200 && r.url.endsWith("/simpleenroll")) return "a mutated CSR was issued a certificate";
    return coded(r, a);
  });
  const good = await makeCsr(userId);
  const ok = await inject(h.estApp, { method: "POST", url: "/.well-known/est/simpleenroll", headers: { authorization: validAuth, "content-type": "application/pkcs10", "content-transfer-encoding": "base64" }, body: Buffer.from(good.base64) });
  if (ok.status !== 200) failures.push(`http-est seed=${seed}: afterwards the passcode did not enroll: HTTP ${ok.status} ${firstLine(ok)}`);
  const cacerts = await inject(h.estApp, { method: "GET", url: "/.well-known/est/cacerts", headers: {} });
  if (cacerts.status !== 200) failures.push(`http-est seed=${seed}: afterwards cacerts answered HTTP ${cacerts.status}`);
  return { name: "http-est", cases, failures, seen };
}

/** OCSP GET and POST and other publication paths: never a 5xx, an OCSP answer never internalError, a good request answered good. */
export async function fuzzOcsp(h: HttpFuzzEnv, seed: number, cases: number): Promise<HttpCampaignResult> {
  const services = h.env.server.services;
  const app = await buildPublicationApp(services, { logLevel: "silent", clock: () => h.env.clock.now });
  try {
    const userDer = fromPem(h.user.certPem, "CERTIFICATE");
    const nonce = Buffer.alloc(16, 7);
    const request = buildOcspRequest(userDer, services.issuingDer, { nonce });
    const s = targetSeed(seed, "http-ocsp");
    const { failures, seen } = await campaign("http-ocsp", seed, cases, (n) => ocspCase(caseRng(s, n), { request }), (r) => inject(app, r), (r, a) => {
      if (a.status >= 500) return `HTTP ${a.status}: ${firstLine(a)}`;
      if (r.url.startsWith("/ocsp/") || (r.method === "POST" && r.url === "/ocsp")) {
        if (a.status !== 200) return `HTTP ${a.status} from the OCSP responder`;
        const st = ocspResponseStatus(a.body);
        if (st === undefined || st === 2) return `OCSP responseStatus ${st ?? "unreadable"} (2 = internalError)`;
      }
      return undefined;
    });
    const good = await inject(app, { method: "POST", url: "/ocsp", headers: { "content-type": "application/ocsp-request" }, body: request });
    try {
      const status = readOcspResponse(good.body, userDer, services.issuingDer, { nonce, now: h.env.clock.now }).status;
      if (status !== "good") failures.push(`http-ocsp seed=${seed}: afterwards a good request was answered ${status}`);
    } catch (e) {
      failures.push(`http-ocsp seed=${seed}: afterwards a good request was not answered: ${String(e)}`);
    }
    return { name: "http-ocsp", cases, failures, seen };
  } finally {
    await app.close();
  }
}

const CSV = [
  Buffer.from("ユーザID,メールアドレス,氏名,所属,言語\r\nb0000001,b1@example.jp,山田 太郎,総務部,日本語\r\n", "utf8"),
  Buffer.from("userId,email,name\nb0000002,b2@example.jp,\"佐藤 \"\"花子\"\"\"\n", "utf8"),
];

/**
 * The portal over TLS with the user's certificate (login and logout forms, the JSON API,
 * simplereenroll) and the operator's (the admin API's CSV upload, always a dry run or
 * refused). Afterwards another user logs in.
 */
export async function fuzzPortal(h: HttpFuzzEnv, seed: number, cases: number): Promise<HttpCampaignResult> {
  const asUser = tlsClient(h.env.url, h.rootPem, h.user);
  const asOperator = tlsClient(h.env.url, h.rootPem, h.operator);
  let result: { failures: string[]; seen: Map<string, number> };
  try {
    const page = await asUser.send({ method: "GET", url: "/", headers: { "accept-language": "en" } });
    const csrf = Browserish.csrf({ status: page.status, headers: page.headers, body: page.body.toString("utf8"), setCookies: [] });
    const s = targetSeed(seed, "http-portal");
    result = await campaign("http-portal", seed, cases, (n) => portalCase(caseRng(s, n), { userId: h.user.userId, csrf, csrSamples, csv: CSV }),
      (r) => (r.url.startsWith("/api/v1/users") ? asOperator : asUser).send({ ...r, headers: { "accept-language": "en", ...r.headers } }), coded);
  } finally {
    asUser.close();
    asOperator.close();
  }
  const other = await h.env.enroll(nextUserId());
  const r = await new Browserish(h.env.url, h.rootPem, other).login(other.userId, other.password);
  if (r.status !== 303) result.failures.push(`http-portal seed=${seed}: afterwards another user could not log in: HTTP ${r.status} ${Browserish.errorCode(r) ?? ""}`);
  return { name: "http-portal", cases, ...result };
}

let operatorSession: Browserish | undefined;

/** The operator console's CSV upload as multipart/form-data (dry run); afterwards a good upload still reads. */
export async function fuzzConsoleBulk(h: HttpFuzzEnv, seed: number, cases: number): Promise<HttpCampaignResult> {
  if (!operatorSession) {
    operatorSession = new Browserish(h.env.url, h.rootPem, h.operator);
    await operatorSession.loginAndChange(h.operator.userId, h.operator.password);
  }
  const b = operatorSession;
  const page = await b.get("/console/bulk");
  if (page.status !== 200) throw new Error(`the console's bulk page answered ${page.status} ${Browserish.errorCode(page) ?? ""}`);
  const csrf = Browserish.csrf(page);
  const csv = [Buffer.from("ユーザID,メールアドレス,氏名,所属,言語\r\nc0000001,c1@example.jp,山田 太郎,総務部,日本語\r\n", "utf8")];
  const send = async (r: FuzzRequest): Promise<FuzzAnswer> => {
    const res = await b.request(r.method, r.url, r.body, r.headers);
    return { status: res.status, headers: res.headers, body: Buffer.from(res.body, "utf8") };
  };
  const s = targetSeed(seed, "http-console-bulk");
  const { failures, seen } = await campaign("http-console-bulk", seed, cases, (n) => consoleBulkCase(caseRng(s, n), { csrf, csv }), send, coded);
  const boundary = "----shomeiGood";
  const body = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n${csrf}\r\n--${boundary}\r\nContent-Disposition: form-data; name="dryRun"\r\n\r\n1\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="csv"; filename="u.csv"\r\nContent-Type: text/csv\r\n\r\n${csv[0]?.toString("utf8") ?? ""}\r\n--${boundary}--\r\n`);
  const ok = await send({ method: "POST", url: "/console/bulk", headers: { "content-type": `multipart/form-data; boundary=${boundary}` }, body });
  if (ok.status !== 200 || !ok.body.toString("utf8").includes("c0000001")) failures.push(`http-console-bulk seed=${seed}: afterwards a good upload answered HTTP ${ok.status} ${firstLine(ok)}`);
  return { name: "http-console-bulk", cases, failures, seen };
}

/** One request on a new TLS connection presenting `certPem` with `keyPem`; undefined when no HTTP answer came (refused in the handshake). */
function withCertificate(base: string, rootPem: string, certPem: string, keyPem: string, r: FuzzRequest): Promise<FuzzAnswer | undefined> {
  return new Promise((resolve) => {
    let req;
    try {
      req = request(new URL(r.url, base), { method: r.method, headers: { "accept-language": "en", ...r.headers }, ca: rootPem, cert: certPem, key: keyPem, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", () => resolve(undefined));
      });
    } catch {
      // Node's own TLS refuses to load the certificate: nothing was sent.
      resolve(undefined);
      return;
    }
    req.on("error", () => resolve(undefined));
    req.end(r.body);
  });
}

/**
 * Mutated client certificates presented in the portal's TLS handshake with the user's real
 * key (names, extensions, validity and serial mutated; the TLS layer asks but does not verify,
 * the portal decides): every answer below 500, and afterwards the real certificate still works.
 */
export async function fuzzPresentedCertificate(h: HttpFuzzEnv, seed: number, cases: number): Promise<HttpCampaignResult> {
  const der = fromPem(h.user.certPem, "CERTIFICATE");
  const s = targetSeed(seed, "http-client-cert");
  const failures: string[] = [];
  const seen = new Map<string, number>();
  const good = await makeCsr(h.user.userId);
  for (let caseNo = 0; caseNo < cases; caseNo++) {
    const rng = caseRng(s, caseNo);
    const { input } = mutate(der, rng, DER_ONLY);
    const r: FuzzRequest = rng.chance(0.7)
      ? { method: "GET", url: rng.pick(["/", "/me", "/api/v1/users"]), headers: {} }
      : { method: "POST", url: "/.well-known/est/simplereenroll", headers: { "content-type": "application/pkcs10", "content-transfer-encoding": "base64" }, body: Buffer.from(good.base64) };
    const a = await withCertificate(h.env.url, h.rootPem, toPem(input, "CERTIFICATE"), h.user.keyPem, r);
    const key = a ? `${a.status} ${answerCode(a) ?? ""}`.trim() : "no answer (handshake)";
    seen.set(key, (seen.get(key) ?? 0) + 1);
    const why = a ? coded(r, a) : undefined;
    if (why) failures.push(`http-client-cert seed=${seed} case=${caseNo}: ${why}\n  ${r.method} ${r.url} certificate (base64)=${input.toString("base64")}`);
  }
  const after = await withCertificate(h.env.url, h.rootPem, h.user.certPem, h.user.keyPem, { method: "GET", url: "/", headers: {} });
  if (after?.status !== 200 && after?.status !== 303) failures.push(`http-client-cert seed=${seed}: afterwards the real certificate got ${after ? `HTTP ${after.status}` : "no answer"}`);
  return { name: "http-client-cert", cases, failures, seen };
}
