/**
 * The admin API: the console's operations as JSON, for automation, authenticated by an
 * operator's client certificate alone (no cookie, no password). Because a browser presents
 * client certificates on its own, a state-changing request must carry a body type a cross-site
 * form cannot send (application/json, or text/csv for bulk registration): that is the API's
 * CSRF defence. POST /login is open to every user's certificate (the login check).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { CertificateRecord } from "../ca/ports.js";
import { ShomeiError } from "../i18n/errors.js";
import type { UserRecord } from "../registration/ports.js";
import type { Identity, PortalService } from "../portal/service.js";
import { openApiDocument } from "./openapi.js";

export interface ApiOptions {
  readonly portal: PortalService;
}

const CSV_LIMIT = 2 * 1024 * 1024;

/** A whole number from a query parameter, kept within [min, max]; `fallback` when absent or not a number. */
function intParam(v: string | undefined, fallback: number, min: number, max: number): number {
  const n = v === undefined || v.trim() === "" ? NaN : Number(v);
  return Number.isInteger(n) ? Math.min(Math.max(n, min), max) : fallback;
}

export function userJson(u: UserRecord): Record<string, unknown> {
  return {
    userId: u.userId, email: u.email, name: u.name, organization: u.organization, lang: u.lang, role: u.role,
    status: u.status, locked: u.lockedAt !== null, lockedAt: u.lockedAt?.toISOString() ?? null, failedLogins: u.failedLogins,
    passwordInitial: u.passwordInitial, passwordSetAt: u.passwordSetAt?.toISOString() ?? null,
    passwordExpiresAt: u.passwordExpiresAt?.toISOString() ?? null, lastLoginAt: u.lastLoginAt?.toISOString() ?? null,
    createdAt: u.createdAt.toISOString(),
  };
}

export function certificateJson(c: CertificateRecord): Record<string, unknown> {
  return {
    serial: c.serial, userId: c.userId, subject: c.subject, notBefore: c.notBefore.toISOString(), notAfter: c.notAfter.toISOString(),
    fingerprint: c.fingerprint, status: c.status, revokedAt: c.revokedAt?.toISOString() ?? null, revocationReason: c.revocationReason ?? null,
  };
}

/**
 * The query string as single strings: a repeated parameter (`?q=a&q=b`, which the parser gives
 * as an array) counts by its first value, so no handler meets anything but a string.
 */
export function queryParams(req: FastifyRequest): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  const q = req.query;
  if (typeof q !== "object" || q === null) return out;
  for (const [k, v] of Object.entries(q as Record<string, unknown>)) {
    const first: unknown = Array.isArray(v) ? v[0] : v;
    if (typeof first === "string") out[k] = first;
  }
  return out;
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function body(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  return typeof b === "object" && b !== null && !Buffer.isBuffer(b) ? (b as Record<string, unknown>) : {};
}

function isoParam(v: unknown, field: string): Date | undefined {
  if (typeof v !== "string" || v === "") return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new ShomeiError("FIELD_INVALID", { field, reason: "ISO 8601 date-time expected" });
  return d;
}

export function apiPlugin(app: FastifyInstance, o: ApiOptions): Promise<void> {
  const portal = o.portal;
  // JSON with an empty body allowed (actions without parameters); CSV as bytes for bulk registration.
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, text, done) => {
    const s = typeof text === "string" ? text : text.toString("utf8");
    if (s.trim() === "") return done(null, {});
    try {
      done(null, JSON.parse(s) as unknown);
    } catch {
      done(new ShomeiError("FIELD_INVALID", { field: "body", reason: "not valid JSON" }), undefined);
    }
  });
  app.addContentTypeParser("text/csv", { parseAs: "buffer", bodyLimit: CSV_LIMIT }, (_req, buf, done) => done(null, buf));

  const operator = (req: FastifyRequest): UserRecord => {
    const id: Identity | undefined = req.identity;
    if (!id) throw req.identityError ?? new ShomeiError("CERT_REQUIRED");
    portal.requireOperator(id.user);
    return id.user;
  };

  app.addHook("preHandler", (req, _reply, done) => {
    if (req.method === "POST") {
      const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
      const csv = req.url.split("?")[0]?.endsWith("/users/bulk") === true;
      if (type !== "application/json" && !(csv && type === "text/csv")) {
        done(new ShomeiError("UNSUPPORTED_MEDIA_TYPE", { type: type || "-" }));
        return;
      }
    }
    done();
  });

  const send = (reply: FastifyReply, status: number, value: unknown): FastifyReply => reply.code(status).type("application/json; charset=utf-8").send(value);

  app.get("/openapi.json", (_req, reply) => send(reply, 200, openApiDocument()));

  app.post("/login", async (req, reply) => {
    const id = req.identity;
    if (!id) throw req.identityError ?? new ShomeiError("CERT_REQUIRED");
    const b = body(req);
    const r = await portal.login(id, str(b.userId), str(b.password), "api", false);
    return send(reply, 200, {
      outcome: "ok", userId: r.user.userId, passwordChangeDue: r.passwordChangeDue,
      passwordExpiresAt: r.passwordChangeDue ? r.user.passwordExpiresAt?.toISOString() ?? null : null,
      certificate: { serial: id.cert.serial, notAfter: id.cert.notAfter.toISOString() },
    });
  });

  app.get("/users", async (req, reply) => {
    operator(req);
    const q = queryParams(req);
    const limit = intParam(q.limit, 100, 1, 1000);
    const offset = intParam(q.offset, 0, 0, Number.MAX_SAFE_INTEGER);
    const users = await portal.searchUsers(q.q?.slice(0, 100), limit, offset);
    return send(reply, 200, { users: users.map(userJson) });
  });

  app.post("/users", async (req, reply) => {
    const op = operator(req);
    const b = body(req);
    const lang = str(b.lang);
    if (lang !== "" && lang !== "ja" && lang !== "en") throw new ShomeiError("FIELD_INVALID", { field: "lang", reason: "ja or en" });
    const r = await portal.registerUser(op, {
      userId: str(b.userId), email: str(b.email), name: str(b.name),
      ...(str(b.organization) ? { organization: str(b.organization) } : {}), ...(lang ? { lang } : {}),
    });
    return send(reply, 201, { user: userJson(r.user), passcodeExpiresAt: r.passcodeExpiresAt.toISOString(), passwordExpiresAt: r.passwordExpiresAt.toISOString() });
  });

  app.post("/users/bulk", async (req, reply) => {
    const op = operator(req);
    if (!Buffer.isBuffer(req.body)) throw new ShomeiError("UNSUPPORTED_MEDIA_TYPE", { type: "application/json" });
    const q = queryParams(req);
    const r = await portal.bulkRegister(op, req.body, q.dryRun === "true" || q.dryRun === "1");
    return send(reply, r.rejected > 0 && r.registered === 0 && !r.dryRun ? 422 : 200, r);
  });

  const target = async (userId: string): Promise<UserRecord> => {
    const u = await portal.getUser(userId);
    if (!u) throw new ShomeiError("USER_NOT_FOUND", { userId: userId.slice(0, 64) });
    return u;
  };

  app.get<{ Params: { userId: string } }>("/users/:userId", async (req, reply) => {
    operator(req);
    const u = await target(req.params.userId);
    return send(reply, 200, { user: userJson(u), certificates: (await portal.listCertificates(u.userId)).map(certificateJson) });
  });

  app.get<{ Params: { userId: string } }>("/users/:userId/certificates", async (req, reply) => {
    operator(req);
    const u = await target(req.params.userId);
    return send(reply, 200, { certificates: (await portal.listCertificates(u.userId)).map(certificateJson) });
  });

  app.post<{ Params: { userId: string } }>("/users/:userId/passcode", async (req, reply) => {
    const op = operator(req);
    const u = await target(req.params.userId);
    const r = await portal.reissuePasscode(op, u.userId);
    return send(reply, 200, { userId: u.userId, passcodeExpiresAt: r.expiresAt.toISOString() });
  });

  app.post<{ Params: { userId: string } }>("/users/:userId/password-reset", async (req, reply) => {
    const op = operator(req);
    const u = await target(req.params.userId);
    const r = await portal.resetPassword(op, u.userId);
    return send(reply, 200, { userId: u.userId, passwordExpiresAt: r.expiresAt.toISOString() });
  });

  for (const action of ["unlock", "suspend", "resume"] as const) {
    app.post<{ Params: { userId: string } }>(`/users/:userId/${action}`, async (req, reply) => {
      const op = operator(req);
      await target(req.params.userId);
      if (action === "unlock") await portal.unlock(op, req.params.userId);
      else await portal.setSuspended(op, req.params.userId, action === "suspend");
      return send(reply, 200, { user: userJson(await target(req.params.userId)) });
    });
  }

  app.post<{ Params: { serial: string } }>("/certificates/:serial/revoke", async (req, reply) => {
    const op = operator(req);
    const cert = await portal.revoke(op, req.params.serial, str(body(req).reason));
    return send(reply, 200, { certificate: certificateJson(cert) });
  });

  app.get("/audit", async (req, reply) => {
    operator(req);
    const q = queryParams(req);
    const since = isoParam(q.since, "since");
    const until = isoParam(q.until, "until");
    const records = await portal.queryAudit({
      ...(q.user ? { userId: q.user } : {}), ...(q.event ? { event: q.event } : {}),
      ...(since ? { since } : {}), ...(until ? { until } : {}),
      limit: intParam(q.limit, 100, 1, 1000),
    });
    return send(reply, 200, { events: records.map((r) => ({ ...r, at: r.at.toISOString() })) });
  });

  return Promise.resolve();
}
