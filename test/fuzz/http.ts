/**
 * Fuzz cases for the HTTP edges: EST bodies and headers (through the real EST app with
 * inject(), so header bytes Node's own client would refuse to send still arrive), OCSP
 * requests and other paths on the publication app, and the portal's form and JSON bodies,
 * simplereenroll and CSV upload over real TLS with a client certificate (a keep-alive agent,
 * so a few hundred cases stay fast). The verdict: never a 5xx; a 4xx carries a catalog code
 * where the route renders one; an OCSP answer is never internalError.
 */
import { Agent, request } from "node:https";
import type { FastifyInstance, InjectOptions } from "fastify";
import { mutate, parseDer, type Rng } from "./mutate.js";
import { DER_AND_KEYS, DER_ONLY, textMutators } from "./targets.js";

/** One request of a case, as sent (printed with a failure so it can be replayed). */
export interface FuzzRequest {
  method: "GET" | "POST";
  url: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface FuzzAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

export const describeRequest = (r: FuzzRequest): string =>
  `${r.method} ${r.url.slice(0, 300)} headers=${JSON.stringify(r.headers).slice(0, 600)} body(${r.body?.length ?? 0} bytes, base64)=${r.body ? r.body.toString("base64").slice(0, 1500) : "-"}`;

export async function inject(app: FastifyInstance, r: FuzzRequest): Promise<FuzzAnswer> {
  const res = await app.inject({ method: r.method, url: r.url, headers: r.headers, ...(r.body ? { payload: r.body } : {}) } as InjectOptions);
  return { status: res.statusCode, headers: res.headers as Record<string, string | string[] | undefined>, body: res.rawPayload };
}

/** A keep-alive HTTPS client presenting a client certificate (one TLS handshake for many cases). */
export function tlsClient(base: string, rootPem: string, identity?: { certPem: string; keyPem: string }): { send(r: FuzzRequest): Promise<FuzzAnswer>; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: rootPem, ...(identity ? { cert: identity.certPem, key: identity.keyPem } : {}) });
  return {
    send: (r) => new Promise((resolve, reject) => {
      const headers = r.body ? { ...r.headers, "content-length": String(r.body.length) } : r.headers;
      const req = request(new URL(r.url, base), { method: r.method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(r.body);
    }),
    close: () => agent.destroy(),
  };
}

/** The catalog code an error answer carries: problem+json `code`, "[CODE]" in text, "Error code: CODE" on a page. */
export function answerCode(a: FuzzAnswer): string | undefined {
  const text = a.body.toString("utf8");
  const type = String(a.headers["content-type"] ?? "");
  if (type.includes("json")) {
    try {
      const v = JSON.parse(text) as { code?: unknown; error?: { code?: unknown } };
      const c = v.code ?? v.error?.code;
      if (typeof c === "string") return c;
      // A bulk registration's per-row outcome (422): the rows carry the codes.
      const rows = (v as { rows?: { code?: unknown }[] }).rows;
      const rowCode = Array.isArray(rows) ? rows.find((row) => typeof row.code === "string")?.code : undefined;
      if (typeof rowCode === "string") return rowCode;
    } catch {
      return undefined;
    }
  }
  return /^\[([A-Z0-9_]+)\]/.exec(text)?.[1] ?? /(?:Error code|エラーコード): ([A-Z0-9_]+)/.exec(text)?.[1];
}

// ---- request generators -----------------------------------------------------------------------

const CONTENT_TYPES = [
  "application/pkcs10", "application/pkcs10-base64", "application/pkcs10; charset=utf-8", "APPLICATION/PKCS10", "application/pkcs10;;;",
  "application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", "multipart/form-data",
  "text/csv", "application/ocsp-request", "", "application/pkcs10\u0000", "application/*", "*/*", "a".repeat(3000),
];

const b64Lines = (b: Buffer): string => (b.toString("base64").match(/.{1,64}/g) ?? []).join("\r\n");

/** A body built from a sample: mutated DER as base64 (lines, spaces), raw, or not base64 at all. */
function derBody(rng: Rng, samples: readonly Buffer[], names: readonly string[]): Buffer {
  const { input } = mutate(rng.pick(samples), rng, names);
  switch (rng.int(8)) {
    case 0: return input;
    case 1: return Buffer.from(input.toString("base64").replace(/=+$/, ""), "latin1");
    case 2: return Buffer.from(` ${b64Lines(input)}\n\t`, "latin1");
    case 3: return Buffer.from(input.toString("base64").replace(/[A-Z]/, "*"), "latin1");
    case 4: return Buffer.concat([Buffer.from(b64Lines(input), "latin1"), Buffer.alloc(rng.pick([1, 70 * 1024]), 0x41)]);
    default: return Buffer.from(b64Lines(input), "latin1");
  }
}

/** Authorization headers that never name the fuzzed user with a wrong passcode (five would void it). */
function estAuth(rng: Rng, valid: string): string | undefined {
  const basic = (s: string | Buffer): string => `Basic ${Buffer.from(s).toString("base64")}`;
  // Half the cases authenticate, so that they reach the CSR checks.
  if (rng.chance(0.5)) return valid;
  switch (rng.int(12)) {
    case 0: return undefined;
    case 1: return "";
    case 2: return "Basic";
    case 3: return "Basic ====";
    case 4: return basic(`zz${rng.int(1e6)}:${rng.bytes(6).toString("hex")}`);
    case 5: return basic(`${"z".repeat(8000)}:x`);
    case 6: return basic(Buffer.concat([Buffer.from("zz\u202e\u0000"), rng.bytes(8), Buffer.from(":x")]));
    case 7: return `Bearer ${rng.bytes(12).toString("base64")}`;
    case 8: return `Basic ${rng.bytes(30).toString("base64")}`;
    case 9: return `basic   ${Buffer.from(":").toString("base64")}`;
    default: return valid;
  }
}

export function estCase(rng: Rng, o: { csrSamples: readonly Buffer[]; validAuth: string }): FuzzRequest {
  const pick = rng.int(20);
  if (pick === 0) return { method: "GET", url: rng.pick(["/.well-known/est/cacerts", "/.well-known/est/csrattrs", "/.well-known/shomei.json", "/.well-known/est/%zz", `/.well-known/est/${"a".repeat(5000)}`]), headers: {} };
  const headers: Record<string, string> = {};
  const auth = estAuth(rng, o.validAuth);
  if (auth !== undefined) headers.authorization = auth;
  const type = rng.chance(0.75) ? "application/pkcs10" : rng.pick(CONTENT_TYPES);
  if (type !== "" || rng.chance(0.5)) headers["content-type"] = type;
  if (rng.chance(0.5)) headers["content-transfer-encoding"] = rng.pick(["base64", "BASE64", "binary", "8bit", "\u00ff"]);
  if (rng.chance(0.1)) headers["accept"] = rng.pick(["application/problem+json", "*/*", "text/html"]);
  if (rng.chance(0.1)) headers["accept-language"] = rng.pick(["ja", "en", "xx", "ja;q=abc", ",,,"]);
  const op = rng.chance(0.9) ? "simpleenroll" : rng.pick(["simplereenroll", "serverkeygen", "cacerts"]);
  const body = rng.chance(0.1) ? textMutators.jsonPiece?.(Buffer.from("{\"a\":1}"), rng) ?? Buffer.alloc(0) : derBody(rng, o.csrSamples, DER_AND_KEYS);
  return { method: "POST", url: `/.well-known/est/${op}`, headers, body };
}

export function ocspCase(rng: Rng, o: { request: Buffer }): FuzzRequest {
  const { input } = mutate(o.request, rng, DER_ONLY);
  const b64 = input.toString("base64");
  switch (rng.int(6)) {
    case 0: return { method: "GET", url: `/ocsp/${encodeURIComponent(b64)}`, headers: {} };
    case 1: return { method: "GET", url: `/ocsp/${rng.pick([b64, `${b64}%`, "%E0%A4%A", "%00", "/".repeat(50), b64.replace(/[A-Z]/g, "-")])}`, headers: {} };
    case 2: return { method: "GET", url: rng.pick(["/crl/issuing.crl", "/crl/../../etc/passwd", "/ca/issuing.crt", "/crl/x", "/ocsp"]), headers: rng.chance(0.5) ? { "if-none-match": rng.bytes(8).toString("hex") } : {} };
    default: return {
      method: "POST", url: "/ocsp", body: rng.chance(0.05) ? Buffer.alloc(20 * 1024) : input,
      headers: { "content-type": rng.chance(0.8) ? "application/ocsp-request" : rng.pick(CONTENT_TYPES) },
    };
  }
}

/** The responseStatus of an OCSPResponse (0 successful, 1 malformedRequest, 2 internalError …), if it is one. */
export function ocspResponseStatus(der: Buffer): number | undefined {
  const tree = parseDer(der);
  const status = tree?.[0]?.children?.[0];
  return status && status.tag[0] === 0x0a && status.content.length === 1 ? status.content[0] : undefined;
}

const FORM_PIECES = ["%zz", "%", "&&&", "=", "csrf=", "userId=", "password=", "\u0000", "+", "%E3%81", "a".repeat(70 * 1024), "userId[]=x", "__proto__=1", "constructor[prototype][x]=1"];

/** A urlencoded body from fields, then perhaps broken. */
function formBody(rng: Rng, fields: Record<string, string>): Buffer {
  let text = new URLSearchParams(fields).toString();
  for (let i = rng.int(3); i > 0; i--) {
    const at = rng.int(text.length + 1);
    text = text.slice(0, at) + rng.pick(FORM_PIECES) + text.slice(at);
  }
  return Buffer.from(text, "latin1");
}

const FIELD_VALUES = ["", " ", "a0000001", "A0000001", "a0000001\u0000", "x".repeat(8000), "\u202ea0000001", "' OR 1=1 --", "<script>", "𠮷", "\ud800"];

function jsonBody(rng: Rng, fields: Record<string, unknown>): Buffer {
  const o: Record<string, unknown> = { ...fields };
  if (rng.chance(0.5)) o[rng.pick(["userId", "password", "csrf", "__proto__", "constructor"])] = rng.pick<unknown>([null, 1, [], {}, true, ...FIELD_VALUES]);
  const text = JSON.stringify(o);
  const m = rng.chance(0.5) ? textMutators.jsonPiece?.(Buffer.from(text), rng) : undefined;
  return m ?? Buffer.from(text);
}

/**
 * A portal case, sent with the fuzzed user's certificate. Wrong passwords go to the fuzzed
 * user (they may lock it: a correct answer too); the check afterwards logs in another user.
 */
export function portalCase(rng: Rng, o: { userId: string; csrf: string; csrSamples: readonly Buffer[]; csv: readonly Buffer[] }): FuzzRequest {
  const fields = (): Record<string, string> => ({
    csrf: rng.chance(0.7) ? o.csrf : rng.pick(FIELD_VALUES), userId: rng.chance(0.5) ? o.userId : rng.pick(FIELD_VALUES), password: rng.pick(FIELD_VALUES),
  });
  // Node's client refuses to send control characters in a header (inject() covers those on EST).
  const type = (normal: string): string => (rng.chance(0.8) ? normal : rng.pick(CONTENT_TYPES.filter((t) => ![...t].some((c) => c.charCodeAt(0) < 0x20))));
  switch (rng.int(7)) {
    case 0:
    case 1: return { method: "POST", url: "/login", headers: { "content-type": type("application/x-www-form-urlencoded") }, body: formBody(rng, fields()) };
    case 2: return { method: "POST", url: "/logout", headers: { "content-type": type("application/x-www-form-urlencoded") }, body: formBody(rng, { csrf: fields().csrf ?? "" }) };
    case 3: return { method: "POST", url: "/api/v1/login", headers: { "content-type": type("application/json"), accept: "application/json" }, body: jsonBody(rng, fields()) };
    case 4: return {
      method: "POST", url: "/.well-known/est/simplereenroll", body: derBody(rng, o.csrSamples, DER_AND_KEYS),
      headers: { "content-type": type("application/pkcs10"), "content-transfer-encoding": "base64" },
    };
    case 5: return {
      method: "POST", url: `/api/v1/users/bulk?dryRun=${rng.pick(["1", "true", "0", "%zz"])}`, headers: { "content-type": type("text/csv"), accept: "application/json" },
      body: mutate(rng.pick(o.csv), rng, ["bitFlip", "truncate", "insert", "csvPiece", "csvPiece", "sjisBytes"], textMutators).input,
    };
    default: {
      const url = rng.pick(["/", "/me", "/password", "/console", "/console/audit?from=%zz", "/console/users?q=%E3", "/api/v1/users?limit=-1", "/api/v1/audit?from=x", "/%00"]);
      if (rng.chance(0.5)) return { method: "GET", url, headers: {} };
      return { method: "POST", url, headers: { "content-type": type("application/x-www-form-urlencoded") }, body: formBody(rng, fields()) };
    }
  }
}

/**
 * A multipart/form-data upload to the operator console's bulk registration (always a dry run
 * when it parses): the CSV mutated, and the multipart framing itself broken now and then
 * (boundaries missing, truncated, repeated; parts without names; huge headers).
 */
export function consoleBulkCase(rng: Rng, o: { csrf: string; csv: readonly Buffer[] }): FuzzRequest {
  const boundary = "----shomeiFuzz" + rng.bytes(4).toString("hex");
  const csv = mutate(rng.pick(o.csv), rng, ["bitFlip", "truncate", "insert", "csvPiece", "csvPiece", "sjisBytes"], textMutators).input;
  const field = (name: string, value: string): string => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  let body: Buffer = Buffer.concat([
    Buffer.from(field("csrf", rng.chance(0.9) ? o.csrf : rng.pick(FIELD_VALUES)) + field("dryRun", "1")),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="csv"; filename="${rng.pick(["users.csv", "", "..\\..\\x.csv", "名簿.csv"])}"\r\nContent-Type: text/csv\r\n\r\n`),
    csv, Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  if (rng.chance(0.3)) body = mutate(body, rng, ["truncate", "bitFlip", "insert", "remove", "duplicateNode", "append"]).input;
  const type = rng.chance(0.85) ? `multipart/form-data; boundary=${boundary}` : rng.pick(["multipart/form-data", `multipart/form-data; boundary="${boundary}`, "multipart/form-data; boundary=", `multipart/mixed; boundary=${boundary}`, "text/csv"]);
  return { method: "POST", url: "/console/bulk", headers: { "content-type": type }, body };
}
