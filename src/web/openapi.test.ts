/** The admin API's OpenAPI document: well-formed, and describing exactly the routes and shapes api.ts has. */
import { test } from "node:test";
import assert from "node:assert/strict";
import Fastify from "fastify";
import type { CertificateRecord } from "../ca/ports.js";
import { REVOCATION_REASONS } from "../portal/ports.js";
import type { BulkResult } from "../portal/service.js";
import type { UserRecord } from "../registration/ports.js";
import { apiPlugin, auditJson, certificateJson, userJson } from "./api.js";
import { openApiDocument } from "./openapi.js";

type Obj = Record<string, unknown>;

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function obj(v: unknown, what: string): Obj {
  assert.ok(isObj(v), `${what} is an object`);
  return v;
}

/** Every value in the tree, with its JSON pointer. */
function* walk(v: unknown, pointer = ""): Generator<[string, unknown]> {
  yield [pointer, v];
  if (Array.isArray(v)) for (const [i, x] of v.entries()) yield* walk(x, `${pointer}/${i}`);
  else if (isObj(v)) for (const [k, x] of Object.entries(v)) yield* walk(x, `${pointer}/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`);
}

function resolve(doc: Obj, ref: string): unknown {
  assert.ok(ref.startsWith("#/"), `local $ref: ${ref}`);
  let at: unknown = doc;
  for (const raw of ref.slice(2).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (!isObj(at) || !Object.hasOwn(at, key)) return undefined;
    at = at[key];
  }
  return at;
}

/** [path, method, operation] for every operation of the document. */
function operations(doc: Obj): [string, string, Obj][] {
  const out: [string, string, Obj][] = [];
  for (const [path, item] of Object.entries(obj(doc.paths, "paths"))) {
    for (const [method, op] of Object.entries(obj(item, path))) {
      if ((METHODS as readonly string[]).includes(method)) out.push([path, method, obj(op, `${method} ${path}`)]);
    }
  }
  return out;
}

/**
 * A small JSON Schema check, enough for the document's own schemas: $ref, type, const, enum,
 * required, properties (a key not declared is an error unless additionalProperties allows
 * it), items, pattern, minimum, maxLength and format date-time.
 */
function check(doc: Obj, schema: unknown, v: unknown, at = "$"): string[] {
  const s = obj(schema, `schema at ${at}`);
  if (typeof s.$ref === "string") return check(doc, resolve(doc, s.$ref), v, at);
  const errors: string[] = [];
  const typeOf = (x: unknown): string => x === null ? "null" : Array.isArray(x) ? "array" : Number.isInteger(x) ? "integer" : typeof x;
  if (s.type !== undefined) {
    const types = (Array.isArray(s.type) ? s.type : [s.type]) as string[];
    const t = typeOf(v);
    if (!types.includes(t) && !(t === "integer" && types.includes("number"))) return [`${at}: ${t} is not ${types.join("|")}`];
  }
  if (s.const !== undefined && v !== s.const) errors.push(`${at}: not ${JSON.stringify(s.const)}`);
  if (Array.isArray(s.enum) && !s.enum.includes(v)) errors.push(`${at}: ${JSON.stringify(v)} not in enum`);
  if (typeof v === "string") {
    if (typeof s.pattern === "string" && !new RegExp(s.pattern, "u").test(v)) errors.push(`${at}: does not match ${s.pattern}`);
    if (typeof s.maxLength === "number" && [...v].length > s.maxLength) errors.push(`${at}: longer than ${s.maxLength}`);
    if (s.format === "date-time" && (Number.isNaN(Date.parse(v)) || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v))) errors.push(`${at}: not a date-time`);
  }
  if (typeof v === "number" && typeof s.minimum === "number" && v < s.minimum) errors.push(`${at}: below ${s.minimum}`);
  if (Array.isArray(v) && s.items !== undefined) v.forEach((x, i) => errors.push(...check(doc, s.items, x, `${at}[${i}]`)));
  if (isObj(v)) {
    const props = isObj(s.properties) ? s.properties : {};
    for (const r of Array.isArray(s.required) ? (s.required as string[]) : []) if (!Object.hasOwn(v, r)) errors.push(`${at}.${r}: missing`);
    for (const [k, x] of Object.entries(v)) {
      if (Object.hasOwn(props, k)) errors.push(...check(doc, props[k], x, `${at}.${k}`));
      else if (isObj(s.additionalProperties)) errors.push(...check(doc, s.additionalProperties, x, `${at}.${k}`));
      else if (s.additionalProperties !== true) errors.push(`${at}.${k}: not declared`);
    }
  }
  return errors;
}

const schemaOf = (doc: Obj, name: string): Obj => obj(resolve(doc, `#/components/schemas/${name}`), name);

test("the document is plain JSON, OpenAPI 3.1.0, with the title, version, servers and mutual TLS everywhere", () => {
  const doc = openApiDocument();
  assert.deepEqual(JSON.parse(JSON.stringify(doc)), doc, "survives JSON round trip unchanged");
  assert.equal(doc.openapi, "3.1.0");
  const info = obj(doc.info, "info");
  assert.equal(info.title, "Shomei admin API");
  assert.equal(info.version, "1");
  assert.ok(typeof info.description === "string" && /mutual TLS/.test(info.description) && /[\u3040-\u30ff]/.test(info.description), "English and Japanese description");
  assert.match(String(info.description), /application\/json/);
  assert.match(String(info.description), /text\/csv/);
  assert.match(String(info.description), /shomei login-check/);
  assert.deepEqual(doc.servers, [{ url: "/api/v1", description: (doc.servers as Obj[])[0]?.description }]);
  const schemes = obj(obj(doc.components, "components").securitySchemes, "securitySchemes");
  const [name, scheme] = Object.entries(schemes)[0] ?? [];
  assert.equal(obj(scheme, "scheme").type, "mutualTLS");
  assert.deepEqual(doc.security, [{ [name ?? ""]: [] }]);
});

test("every $ref resolves within the document", () => {
  const doc = openApiDocument();
  let refs = 0;
  for (const [pointer, v] of walk(doc)) {
    if (!isObj(v) || v.$ref === undefined) continue;
    refs++;
    assert.equal(typeof v.$ref, "string", pointer);
    assert.notEqual(resolve(doc, v.$ref as string), undefined, `${pointer}: ${JSON.stringify(v.$ref)}`);
  }
  assert.ok(refs > 10);
  for (const name of ["User", "Certificate", "AuditEvent", "BulkResult", "LoginResult", "Problem"]) schemaOf(doc, name);
});

test("every operation has a unique operationId, a summary, responses, and declares its path parameters", () => {
  const doc = openApiDocument();
  const ids = new Set<string>();
  for (const [path, method, op] of operations(doc)) {
    const where = `${method.toUpperCase()} ${path}`;
    assert.ok(typeof op.operationId === "string" && op.operationId !== "", `${where}: operationId`);
    assert.ok(!ids.has(op.operationId), `${where}: operationId ${op.operationId} is unique`);
    ids.add(op.operationId);
    assert.ok(typeof op.summary === "string" && op.summary !== "", `${where}: summary`);
    const responses = obj(op.responses, `${where} responses`);
    assert.ok(Object.keys(responses).some((c) => /^2\d\d$/.test(c)), `${where}: a success response`);
    for (const [code, r] of Object.entries(responses)) {
      const content = obj(obj(r, `${where} ${code}`).content, `${where} ${code} content`);
      if (/^[45]\d\d$/.test(code) && code !== "422") assert.deepEqual(Object.keys(content), ["application/problem+json"], `${where} ${code}`);
    }
    const params = Array.isArray(op.parameters) ? op.parameters.map((p) => obj(p, `${where} parameter`)) : [];
    for (const p of params) assert.ok(isObj(p.schema), `${where} ${String(p.name)}: schema`);
    const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    assert.deepEqual(params.filter((p) => p.in === "path").map((p) => p.name), inPath, `${where}: path parameters`);
    for (const p of params.filter((x) => x.in === "path")) assert.equal(p.required, true);
    if (method === "post") {
      assert.ok(isObj(op.requestBody), `${where}: requestBody`);
      assert.ok(Object.hasOwn(responses, "415"), `${where}: 415`);
    }
    if (path !== "/openapi.json") assert.ok(Object.hasOwn(responses, "403"), `${where}: 403 for the certificate`);
  }
  assert.ok(ids.size >= 13);
});

test("the document's routes are exactly those apiPlugin registers", async () => {
  const app = Fastify();
  const registered = new Set<string>();
  app.addHook("onRoute", (r) => {
    for (const m of Array.isArray(r.method) ? r.method : [r.method]) {
      if (m === "HEAD") continue;
      assert.ok(r.url.startsWith("/api/v1/"), r.url);
      registered.add(`${m} ${r.url.slice("/api/v1".length).replace(/:([A-Za-z0-9_]+)/g, "{$1}")}`);
    }
  });
  await app.register(apiPlugin, { prefix: "/api/v1", portal: {} as never });
  await app.ready();
  await app.close();
  const documented = operations(openApiDocument()).map(([path, method]) => `${method.toUpperCase()} ${path}`);
  assert.ok(registered.size >= 13, [...registered].join("\n"));
  assert.deepEqual(new Set(documented), registered);
  assert.equal(documented.length, registered.size);
});

test("request bodies: required fields, limits and enums as the handlers expect", () => {
  const doc = openApiDocument();
  const body = (path: string, type = "application/json"): Obj => {
    const op = obj(obj(obj(doc.paths, "paths")[path], path).post, path);
    return obj(obj(obj(obj(op.requestBody, "requestBody").content, "content")[type], type).schema, "schema");
  };
  const register = body("/users");
  assert.deepEqual(register.required, ["userId", "email", "name"]);
  const props = obj(register.properties, "properties");
  assert.equal(obj(props.userId, "userId").maxLength, 64);
  assert.equal(obj(props.email, "email").maxLength, 254);
  assert.equal(obj(props.name, "name").maxLength, 100);
  assert.equal(obj(props.organization, "organization").maxLength, 200);
  assert.deepEqual(obj(props.lang, "lang").enum, ["ja", "en"]);
  assert.deepEqual(obj(obj(body("/certificates/{serial}/revoke").properties, "p").reason, "reason").enum, [...REVOCATION_REASONS]);
  assert.deepEqual(body("/login").required, ["userId", "password"]);
  assert.equal(body("/users/bulk", "text/csv").type, "string");
  const bulk = obj(obj(obj(doc.paths, "paths")["/users/bulk"], "bulk").post, "post");
  const dryRun = (bulk.parameters as Obj[]).find((p) => p.name === "dryRun");
  assert.equal(dryRun?.in, "query");
  assert.equal(obj(dryRun?.schema, "dryRun schema").type, "boolean");
});

const user: UserRecord = {
  userId: "a0000001", email: "taro@example.jp", name: "山田 太郎", organization: "総務部", lang: "ja", role: "operator",
  status: "active", passwordHash: "$argon2id$x", passwordInitial: true, passwordSetAt: new Date("2026-01-02T03:04:05Z"),
  passwordExpiresAt: new Date("2026-01-09T03:04:05Z"), createdAt: new Date("2026-01-02T03:04:05Z"), failedLogins: 0,
  lockedAt: null, lastLoginAt: null,
};

const cert: CertificateRecord = {
  serial: "1a2b3c", userId: "a0000001", kind: "client", subject: "CN=a0000001", notBefore: new Date("2026-01-02T00:00:00Z"),
  notAfter: new Date("2027-01-02T00:00:00Z"), fingerprint: Array.from({ length: 32 }, () => "AB").join(":"), der: Buffer.alloc(1),
  status: "valid", csrHash: null, createdAt: new Date("2026-01-02T00:00:00Z"),
};

test("the schemas match what userJson, certificateJson and bulk registration produce, key for key", () => {
  const doc = openApiDocument();
  const same = (name: string, value: unknown): void => assert.deepEqual(check(doc, schemaOf(doc, name), JSON.parse(JSON.stringify(value))), [], name);
  same("User", userJson(user));
  same("User", userJson({ ...user, lockedAt: new Date(), failedLogins: 5, passwordInitial: false, passwordExpiresAt: null, lastLoginAt: new Date(), lang: "en", status: "suspended" }));
  same("Certificate", certificateJson(cert));
  same("Certificate", certificateJson({ ...cert, userId: null, status: "revoked", revokedAt: new Date(), revocationReason: "keyCompromise" }));
  const bulk: BulkResult = {
    encoding: "shift_jis", dryRun: false, registered: 1, rejected: 2, rows: [
      { line: 2, userId: "a0000001", outcome: "registered" },
      { line: 3, userId: "", outcome: "rejected", code: "FIELD_INVALID", message: "The value of email is not valid", messageJa: "email の値が正しくありません" },
      { line: 4, userId: "a0000003", outcome: "rejected", code: "USER_EXISTS", message: "exists", messageJa: "登録済み" },
    ],
  };
  same("BulkResult", bulk);
  const audit = { id: 7, at: new Date(), lastAt: new Date(), count: 1, actor: "operator:a0000001", event: "certificate.revoke", userId: null, outcome: "success" as const };
  same("AuditEvent", auditJson({ ...audit, detail: { serial: "1a2b3c", reason: "superseded", ok: true, n: 1 } }));
  same("AuditEvent", auditJson({ ...audit, count: 999, actor: "user:invalid:0123456789ab", userId: "invalid:0123456789ab" }));
  same("LoginResult", { outcome: "ok", userId: "a0000001", passwordChangeDue: false, passwordExpiresAt: null, certificate: { serial: "1a2b3c", notAfter: new Date() } });
  same("Problem", { type: "urn:shomei:error:USER_NOT_FOUND", title: "t", status: 404, code: "USER_NOT_FOUND", detail: "d", remedy: "r", helpdesk: "h" });
  // The checker itself notices a missing, an extra and a mistyped key.
  assert.equal(check(doc, schemaOf(doc, "User"), { ...JSON.parse(JSON.stringify(userJson(user))) as Obj, extra: 1, locked: "no", createdAt: undefined }).length, 3);
});
