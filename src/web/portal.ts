/**
 * The online system (portal) over HTTPS: its own listener, because it asks every browser for a
 * client certificate during the TLS handshake, and the EST/public port must not. TLS accepts
 * any certificate (rejectUnauthorized: false) so that a missing, foreign, expired or revoked
 * one gets a page that says what to do instead of a bare TLS error; PortalService decides.
 */
import type { TLSSocket } from "node:tls";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import formbody from "@fastify/formbody";
import multipart from "@fastify/multipart";
import type { Lang } from "../i18n/errors.js";
import { ShomeiError, isShomeiError, isoTimes } from "../i18n/errors.js";
import { parseLocalDateTime } from "../i18n/format.js";
import { isLang, langFromAcceptLanguage } from "../i18n/lang.js";
import { P } from "../i18n/portal_messages.js";
import type { SessionRecord } from "../portal/ports.js";
import { sessionIdHash, type Identity, type PortalService } from "../portal/service.js";
import { frameworkErrors, toShomeiError } from "../http/errors.js";
import { HTTPS_HEADERS, sendHttpsHeaders, TLS_POLICY } from "../http/tls_policy.js";
import { apiPlugin, queryParams } from "./api.js";
import { renewRoutes, type RenewPageOptions } from "./renew_page.js";
import { estPlugin } from "../est/plugin.js";
import type { FailureLimiter } from "../http/failure_limiter.js";
import type { EnrollmentService } from "../registration/enrollment.js";
import type { RenewalService } from "../registration/renewal.js";
import {
  auditPage, bulkPage, consolePage, errorPage, loginPage, LoginPageTemplate, mePage, MePageTemplate, meValues, passwordPage, STYLE, userDetailPage,
  type MePage, type PageContext,
} from "./pages.js";

export const SESSION_COOKIE = "__Host-shomei_session";
const LANG_COOKIE = "shomei_lang";
const FORM_LIMIT = 64 * 1024;
export const CSV_LIMIT = 2 * 1024 * 1024;

export interface PortalOptions {
  readonly portal: PortalService;
  readonly tls: { readonly key: string; readonly cert: string };
  /** CA certificates (PEM) named in the certificate request: browsers offer only matching certificates. */
  readonly clientCas: readonly string[];
  readonly serviceName: string;
  readonly helpdesk: string;
  readonly timeZone: string;
  readonly logLevel?: "silent" | "error" | "warn" | "info" | "debug";
  /** The browser renewal page (/me/renew): the key kind and root the service uses. */
  readonly renewPage?: RenewPageOptions;
  /** EST on this listener too, for simplereenroll (renewal authenticated by the current certificate). */
  readonly est?: {
    readonly enrollment: EnrollmentService;
    readonly renewal: RenewalService;
    readonly caCertificates: readonly Buffer[];
    readonly csrAttrs: Buffer;
    readonly helpdesk: string;
    /** The services' limiter: shared with the EST port (one count per address). */
    readonly limiter: FailureLimiter;
  };
}

declare module "fastify" {
  interface FastifyRequest {
    lang: Lang;
    identity: Identity | undefined;
    identityError: ShomeiError | undefined;
    /** The session cookie's value, when the request has one. */
    sessionToken: string | undefined;
  }
}

/** The DER of the certificate the client presented on this connection, if any. */
export function peerCertificate(req: FastifyRequest): Buffer | undefined {
  return presented(req)?.der;
}

/**
 * The presented certificate and its fingerprint, worked out once per TLS connection: the peer
 * certificate cannot change on a connection (TLS 1.3 without post-handshake authentication,
 * no renegotiation: TLS_POLICY), and getPeerCertificate builds a whole object tree each time. Only the
 * bytes are kept: whether they are still acceptable is asked on every request.
 */
interface Presented {
  readonly der: Buffer;
  readonly fp: string;
  /** CSRF tokens made on this connection: before login (bound to the certificate) and of the last session seen. */
  certCsrf?: string;
  sessionCsrf?: { readonly idHash: string; readonly token: string };
  /** The session cookie of this connection's last request and its sessionIdHash (a browser sends the same one each time). */
  session?: { readonly token: string; readonly idHash: string };
}

const perConnection = new WeakMap<object, Presented | null>();

function presented(req: FastifyRequest): Presented | undefined {
  const socket = req.raw.socket as TLSSocket;
  const known = perConnection.get(socket);
  if (known !== undefined) return known ?? undefined;
  if (typeof socket.getPeerX509Certificate !== "function") return undefined;
  const found = peerOf(socket) ?? null;
  perConnection.set(socket, found);
  return found ?? undefined;
}

/**
 * The DER and SHA-256 fingerprint of the certificate the peer presented. getPeerX509Certificate
 * wraps OpenSSL's certificate without building getPeerCertificate's object tree (subject,
 * issuer, extensions as JS objects), and OpenSSL computes the fingerprint, in the AB:CD:… form
 * of pki/fingerprint.ts (the tests compare the two).
 */
export function peerOf(socket: Pick<TLSSocket, "getPeerX509Certificate">): { der: Buffer; fp: string } | undefined {
  const x = socket.getPeerX509Certificate();
  if (!x) return undefined;
  const der = x.raw;
  return der.length > 0 ? { der, fp: x.fingerprint256 } : undefined;
}

/**
 * The headers of every portal response (HTTPS_HEADERS with the portal's own policy), set once
 * per request on the response before Fastify sees it (sendHttpsHeaders): errors from before the
 * routing carry them too. A page that needs another policy (the renewal page) sets its own.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  ...HTTPS_HEADERS,
  "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
  "X-Frame-Options": "DENY",
});

function cookies(req: FastifyRequest): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0) m.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return m;
}

function setSessionCookie(reply: FastifyReply, token: string): void {
  void reply.header("Set-Cookie", `${SESSION_COOKIE}=${token}; Path=/; Secure; HttpOnly; SameSite=Strict`);
}

function clearSessionCookie(reply: FastifyReply): void {
  void reply.header("Set-Cookie", `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`);
}

type Form = Record<string, string | undefined>;

function form(req: FastifyRequest): Form {
  const b = req.body;
  if (typeof b !== "object" || b === null) return {};
  const out: Form = {};
  for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = typeof v === "string" ? v : Array.isArray(v) && typeof v[0] === "string" ? v[0] : undefined;
  return out;
}

/**
 * The page's own path for the language switch: the URL without its `lang` parameter. A URL
 * with neither `?` nor `&` (most requests) has none, and is its own path.
 */
export function pagePath(url: string): string {
  if (!url.includes("?") && !url.includes("&")) return url;
  return url.replace(/([?&])lang=[^&]*&?/, "$1").replace(/[?&]$/, "");
}

function query(req: FastifyRequest): Form {
  return queryParams(req);
}

export async function buildPortal(o: PortalOptions): Promise<FastifyInstance> {
  const portal = o.portal;
  const app = Fastify({
    https: {
      key: o.tls.key, cert: o.tls.cert, ...TLS_POLICY,
      requestCert: true, rejectUnauthorized: false, ca: [...o.clientCas],
    },
    bodyLimit: FORM_LIMIT,
    frameworkErrors: frameworkErrors(FORM_LIMIT, o.helpdesk),
    logger: { level: o.logLevel ?? "warn" },
    routerOptions: { ignoreTrailingSlash: true },
  });
  sendHttpsHeaders(app.server, PAGE_HEADERS);
  await app.register(formbody, { bodyLimit: FORM_LIMIT });
  // The multipart plugin (busboy) only in the context of the one upload page (below): its hooks
  // (a listener and an async onResponse on every request) stay off every other page. Elsewhere a
  // multipart body is accepted and left unread, as the plugin's own parser does there: the page
  // answers as for an empty form.
  app.addContentTypeParser("multipart/form-data", (_req, _payload, done) => done(null));
  app.decorateRequest("lang", "ja");
  app.decorateRequest("identity", undefined);
  app.decorateRequest("identityError", undefined);
  app.decorateRequest("sessionToken", undefined);

  const ctx = (req: FastifyRequest, extra: Partial<PageContext> = {}): PageContext => ({
    lang: req.lang, serviceName: o.serviceName, helpdesk: o.helpdesk, timeZone: o.timeZone,
    path: pagePath(req.url), ...extra,
  });
  const page = (reply: FastifyReply, status: number, body: string): FastifyReply =>
    reply.code(status).type("text/html; charset=utf-8").send(body);
  const fail = (req: FastifyRequest, reply: FastifyReply, e: ShomeiError, extra: Partial<PageContext> = {}): FastifyReply =>
    page(reply, e.status, errorPage(ctx(req, extra), e));

  app.addHook("onRequest", async (req, reply) => {
    const q = query(req).lang;
    const jar = cookies(req);
    const c = jar.get(LANG_COOKIE);
    req.sessionToken = jar.get(SESSION_COOKIE) || undefined;
    req.lang = isLang(q) ? q : isLang(c) ? c : langFromAcceptLanguage(req.headers["accept-language"]);
    if (isLang(q) && q !== c) void reply.header("Set-Cookie", `${LANG_COOKIE}=${q}; Path=/; Secure; SameSite=Strict; Max-Age=31536000`);
    if (req.url.startsWith("/static/")) return;
    try {
      const p = presented(req);
      const token = req.sessionToken;
      let idHash: string | undefined;
      if (token !== undefined) {
        if (p?.session?.token !== token) {
          idHash = sessionIdHash(token);
          if (p) p.session = { token, idHash };
        } else {
          idHash = p.session.idHash;
        }
      }
      // The session the cookie names is read with the certificate, in one statement.
      req.identity = await portal.identify(p?.der, p?.fp, token, idHash);
    } catch (e) {
      if (!isShomeiError(e)) throw e;
      req.identityError = e;
    }
  });

  const problem = (req: FastifyRequest, reply: FastifyReply, e: ShomeiError): FastifyReply =>
    reply.code(e.status).type("application/problem+json").send({
      type: `urn:shomei:error:${e.code}`, title: e.text(req.lang), status: e.status, code: e.code,
      detail: e.text(req.lang), remedy: e.remedy(req.lang), helpdesk: o.helpdesk,
      // The texts show times for people (in the service's zone); programs get them as ISO 8601.
      ...(isoTimes(e) ? { params: isoTimes(e) } : {}),
    });
  app.setErrorHandler((err, req, reply) => {
    const limit = req.url.startsWith("/api/v1/users/bulk") ? CSV_LIMIT : FORM_LIMIT;
    const e = toShomeiError(err, limit, req.headers["content-type"]);
    if (e.code === "INTERNAL") req.log.error({ err }, "internal error");
    return req.url.startsWith("/api/") ? problem(req, reply, e) : fail(req, reply, e);
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new ShomeiError("NOT_FOUND", { path: req.url.split("?")[0]?.slice(0, 100) ?? "/" });
    return req.url.startsWith("/api/") ? problem(req, reply, e) : fail(req, reply, e);
  });

  app.get("/static/style.css", (_req, reply) => reply.type("text/css; charset=utf-8").header("Cache-Control", "public, max-age=3600").send(STYLE));

  /** The certificate must be acceptable for every page; otherwise the page says why. */
  const identity = (req: FastifyRequest): Identity => {
    if (req.identity) return req.identity;
    throw req.identityError ?? new ShomeiError("CERT_REQUIRED");
  };

  /** The session the cookie names, checked against the certificate; undefined when none. */
  const sessionOf = async (req: FastifyRequest, reply: FastifyReply, id: Identity): Promise<{ session?: SessionRecord; error?: ShomeiError }> => {
    const token = req.sessionToken;
    if (!token) return {};
    try {
      return { session: await portal.resume(token, id) };
    } catch (e) {
      if (!isShomeiError(e)) throw e;
      clearSessionCookie(reply);
      return { error: e };
    }
  };

  /**
   * portal.csrfToken, kept on the TLS connection (an HMAC each time otherwise): the token depends
   * only on the certificate or the session, both checked on every request all the same.
   */
  const csrfOf = (req: FastifyRequest, bound: { session: SessionRecord } | { identity: Identity }): string => {
    const p = presented(req);
    if ("identity" in bound) {
      if (p?.fp !== bound.identity.cert.fingerprint) return portal.csrfToken(bound);
      return (p.certCsrf ??= portal.csrfToken(bound));
    }
    if (!p) return portal.csrfToken(bound);
    if (p.sessionCsrf?.idHash !== bound.session.idHash) p.sessionCsrf = { idHash: bound.session.idHash, token: portal.csrfToken(bound) };
    return p.sessionCsrf.token;
  };

  /** The login page without error or notice at "/", per language: rendered once, the certificate's values spliced in. */
  const loginTemplates = new Map<Lang, LoginPageTemplate>();
  const showLogin = (req: FastifyRequest, reply: FastifyReply, id: Identity, status: number, error?: ShomeiError, notice?: string): FastifyReply => {
    const csrf = csrfOf(req, { identity: id });
    const c = ctx(req, { csrf });
    if (error || notice || c.path !== "/") return page(reply, status, loginPage(c, id.user.userId, id.cert.serial, error, notice));
    let t = loginTemplates.get(c.lang);
    if (!t) {
      t = new LoginPageTemplate(ctx(req));
      loginTemplates.set(c.lang, t);
    }
    return page(reply, status, t.render(id.user.userId, id.cert.serial, csrf));
  };

  /** A full session (password changed) for this certificate, or a redirect/login page. */
  const requireSession = async (req: FastifyRequest, reply: FastifyReply, stage: "full" | "any"): Promise<{ id: Identity; session: SessionRecord } | undefined> => {
    const id = identity(req);
    const { session, error } = await sessionOf(req, reply, id);
    if (!session) {
      void showLogin(req, reply, id, 401, error ?? new ShomeiError("SESSION_ENDED"));
      return undefined;
    }
    if (stage === "full" && session.stage !== "full") {
      void reply.redirect("/password", 303);
      return undefined;
    }
    return { id, session };
  };

  // s.id.user was read in this request, with the certificate: no second read.
  const userCtx = (req: FastifyRequest, s: { id: Identity; session: SessionRecord }): Promise<PageContext> =>
    // ctx(req, { user, csrf }) written out (no spread of the extras: one object shape).
    Promise.resolve({
      lang: req.lang, serviceName: o.serviceName, helpdesk: o.helpdesk, timeZone: o.timeZone, path: pagePath(req.url),
      user: s.id.user, csrf: csrfOf(req, { session: s.session }),
    });

  app.get("/", async (req, reply) => {
    const id = identity(req);
    const { session, error } = await sessionOf(req, reply, id);
    if (session) return reply.redirect(session.stage === "full" ? "/me" : "/password", 303);
    return showLogin(req, reply, id, 200, error && error.code !== "SESSION_ENDED" ? error : undefined,
      query(req).done === "logout" ? P.loggedOut[req.lang] : undefined);
  });
  app.get("/login", (_req, reply) => reply.redirect("/", 303));

  app.post("/login", async (req, reply) => {
    const id = identity(req);
    const f = form(req);
    try {
      portal.checkCsrf({ identity: id }, f.csrf);
    } catch (e) {
      return showLogin(req, reply, id, 403, e as ShomeiError);
    }
    try {
      const r = await portal.login(id, f.userId ?? "", f.password ?? "", "web", true);
      // A new session id at every login: whatever cookie came before is replaced (no fixation).
      if (r.session) setSessionCookie(reply, r.session.token);
      return reply.redirect(r.passwordChangeDue ? "/password" : "/me", 303);
    } catch (e) {
      if (!isShomeiError(e)) throw e;
      return showLogin(req, reply, id, e.status, e);
    }
  });

  app.get("/password", async (req, reply) => {
    const s = await requireSession(req, reply, "any");
    if (!s) return reply;
    return page(reply, 200, passwordPage(await userCtx(req, s), s.session.stage !== "full", portal.policy.passwordMinLength));
  });

  app.post("/password", async (req, reply) => {
    const s = await requireSession(req, reply, "any");
    if (!s) return reply;
    const f = form(req);
    const c = await userCtx(req, s);
    try {
      portal.checkCsrf({ session: s.session }, f.csrf);
      const next = await portal.changePassword(s.id, s.session, f.current ?? "", f.next ?? "", f.confirm ?? "");
      setSessionCookie(reply, next.token);
      return reply.redirect("/me?done=password", 303);
    } catch (e) {
      if (!isShomeiError(e)) throw e;
      if (e.code === "ACCOUNT_LOCKED" || e.code === "ACCOUNT_LOCKED_TEMPORARILY") {
        clearSessionCookie(reply);
        return fail(req, reply, e);
      }
      return page(reply, e.status, passwordPage(c, s.session.stage !== "full", portal.policy.passwordMinLength, e));
    }
  });

  /**
   * The user page without a notice at "/me", per language, role and choice of texts: rendered
   * once, the user's values spliced in (MePageTemplate).
   */
  const meTemplates = new Map<string, MePageTemplate>();
  const showMe = (c: PageContext, m: MePage): string => {
    if (m.notice !== undefined || c.path !== "/me" || !c.user) return mePage(c, m);
    const key = `${c.lang} ${c.user.role} ${m.expiringSoon} ${m.renewOpen === true}`;
    let t = meTemplates.get(key);
    if (!t) {
      t = new MePageTemplate(c, m);
      meTemplates.set(key, t);
    }
    return t.render(c, meValues(c, m));
  };

  app.get("/me", async (req, reply) => {
    const s = await requireSession(req, reply, "full");
    if (!s) return reply;
    const c = await userCtx(req, s);
    const m = await portal.overview(s.id);
    const now = portal.now();
    const renewOpen = o.est !== undefined && s.id.cert.status === "valid" && now < s.id.cert.notAfter && now >= o.est.renewal.opensAt(s.id.cert);
    // Written out rather than spread: one object shape per request instead of a chain of them.
    const me: MePage = {
      user: m.user, certificates: m.certificates, expiringSoon: m.expiringSoon, passwordAgeDays: m.passwordAgeDays,
      current: s.id.cert, now, renewOpen,
    };
    return page(reply, 200, showMe(c, query(req).done === "password" ? { ...me, notice: P.changed[req.lang] } : me));
  });

  app.post("/logout", async (req, reply) => {
    const id = identity(req);
    const { session } = await sessionOf(req, reply, id);
    if (session) {
      try {
        portal.checkCsrf({ session }, form(req).csrf);
      } catch (e) {
        return fail(req, reply, e as ShomeiError, { user: id.user, csrf: portal.csrfToken({ session }) });
      }
      await portal.logout(session);
    }
    clearSessionCookie(reply);
    return reply.redirect("/?done=logout", 303);
  });

  // ---- operator console -------------------------------------------------------------------

  const requireOperator = async (req: FastifyRequest, reply: FastifyReply): Promise<{ id: Identity; session: SessionRecord; c: PageContext } | undefined> => {
    const s = await requireSession(req, reply, "full");
    if (!s) return undefined;
    const c = await userCtx(req, s);
    if (c.user?.role !== "operator") {
      void fail(req, reply, new ShomeiError("OPERATOR_ONLY"), c);
      return undefined;
    }
    return { ...s, c };
  };
  const doneText = (req: FastifyRequest): string | undefined => {
    const d = query(req).done;
    return d && Object.hasOwn(P.done, d) ? P.done[d as keyof typeof P.done][req.lang] : undefined;
  };

  app.get("/console", async (req, reply) => {
    const s = await requireOperator(req, reply);
    if (!s) return reply;
    const q = (query(req).q ?? "").slice(0, 100);
    return page(reply, 200, consolePage(s.c, await portal.searchUsers(q), q, undefined, doneText(req)));
  });

  app.post("/console/users", async (req, reply) => {
    const s = await requireOperator(req, reply);
    if (!s) return reply;
    const f = form(req);
    try {
      portal.checkCsrf({ session: s.session }, f.csrf);
      const lang = f.lang === "en" ? "en" : "ja";
      const r = await portal.registerUser(s.c.user ?? s.id.user, {
        userId: f.userId ?? "", email: f.email ?? "", name: f.name ?? "", lang,
        ...(f.organization?.trim() ? { organization: f.organization } : {}),
      });
      const done = r.mails.every((m) => m.status === "sent") ? "registered" : "mailQueued";
      return reply.redirect(`/console/users/${encodeURIComponent(r.user.userId)}?done=${done}`, 303);
    } catch (e) {
      if (!isShomeiError(e)) throw e;
      return page(reply, e.status, consolePage(s.c, await portal.searchUsers(undefined), "", e));
    }
  });

  const userPage = async (req: FastifyRequest, reply: FastifyReply, s: { c: PageContext }, userId: string, status = 200, error?: ShomeiError): Promise<FastifyReply> => {
    const u = await portal.getUser(userId);
    if (!u) return fail(req, reply, new ShomeiError("USER_NOT_FOUND", { userId: userId.slice(0, 64) }), s.c);
    return page(reply, status, userDetailPage(s.c, u, await portal.listCertificates(userId), portal.now(), error, doneText(req)));
  };

  app.get<{ Params: { id: string } }>("/console/users/:id", async (req, reply) => {
    const s = await requireOperator(req, reply);
    if (!s) return reply;
    return userPage(req, reply, s, req.params.id);
  });

  const ACTIONS = ["passcode", "password-reset", "unlock", "suspend", "resume"] as const;
  app.post<{ Params: { id: string; action: string } }>("/console/users/:id/:action", async (req, reply) => {
    const s = await requireOperator(req, reply);
    if (!s) return reply;
    const { id: userId, action } = req.params;
    if (!(ACTIONS as readonly string[]).includes(action)) return fail(req, reply, new ShomeiError("NOT_FOUND", { path: action.slice(0, 40) }), s.c);
    const operator = s.c.user ?? s.id.user;
    try {
      portal.checkCsrf({ session: s.session }, form(req).csrf);
      if (!(await portal.getUser(userId))) throw new ShomeiError("USER_NOT_FOUND", { userId: userId.slice(0, 64) });
      let done: keyof typeof P.done;
      switch (action) {
        case "passcode": done = (await portal.reissuePasscode(operator, userId)).mail.status === "sent" ? "passcode" : "mailQueued"; break;
        case "password-reset": done = (await portal.resetPassword(operator, userId)).mail.status === "sent" ? "password" : "mailQueued"; break;
        case "unlock": await portal.unlock(operator, userId); done = "unlock"; break;
        case "suspend": await portal.setSuspended(operator, userId, true); done = "suspend"; break;
        default: await portal.setSuspended(operator, userId, false); done = "resume"; break;
      }
      return reply.redirect(`/console/users/${encodeURIComponent(userId)}?done=${done}`, 303);
    } catch (e) {
      if (!isShomeiError(e)) throw e;
      return userPage(req, reply, s, userId, e.status, e);
    }
  });

  app.post<{ Params: { serial: string } }>("/console/certificates/:serial/revoke", async (req, reply) => {
    const s = await requireOperator(req, reply);
    if (!s) return reply;
    const f = form(req);
    try {
      portal.checkCsrf({ session: s.session }, f.csrf);
      const cert = await portal.revoke(s.c.user ?? s.id.user, req.params.serial, f.reason ?? "");
      return reply.redirect(cert.userId ? `/console/users/${encodeURIComponent(cert.userId)}?done=revoke` : "/console?done=revoke", 303);
    } catch (e) {
      if (!isShomeiError(e)) throw e;
      return fail(req, reply, e, s.c);
    }
  });

  app.get("/console/bulk", async (req, reply) => {
    const s = await requireOperator(req, reply);
    if (!s) return reply;
    return page(reply, 200, bulkPage(s.c));
  });

  await app.register(async (upload) => {
    upload.removeContentTypeParser("multipart/form-data");
    await upload.register(multipart, { limits: { fileSize: CSV_LIMIT, files: 1, fields: 10, fieldSize: 1024 } });
    upload.post("/console/bulk", bulkUpload);
  });
  async function bulkUpload(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const s = await requireOperator(req, reply);
    if (!s) return reply;
    const fields: Form = {};
    let file: Buffer | undefined;
    try {
      if (!req.isMultipart()) throw new ShomeiError("UNSUPPORTED_MEDIA_TYPE", { type: req.headers["content-type"] ?? "-" });
      try {
        for await (const part of req.parts()) {
          if (part.type === "file") {
            file = await part.toBuffer();
            if (part.file.truncated) throw new ShomeiError("BODY_TOO_LARGE", { limit: CSV_LIMIT });
          } else if (typeof part.value === "string") {
            fields[part.fieldname] = part.value;
          }
        }
      } catch (e) {
        // Reading the parts fails only on what the client sent (busboy: "Unexpected end of form", a bad boundary…).
        const err = toShomeiError(e, CSV_LIMIT, req.headers["content-type"]);
        throw err.code === "INTERNAL" ? new ShomeiError("REQUEST_MALFORMED", {}, { cause: e }) : err;
      }
      portal.checkCsrf({ session: s.session }, fields.csrf);
      if (!file || file.length === 0) throw new ShomeiError("INPUT_REQUIRED", { what: P.csvFile[req.lang] });
      const result = await portal.bulkRegister(s.c.user ?? s.id.user, file, fields.dryRun === "1");
      return page(reply, 200, bulkPage(s.c, result));
    } catch (e) {
      const err = isShomeiError(e) ? e : toShomeiError(e, CSV_LIMIT, req.headers["content-type"]);
      if (err.code === "INTERNAL") throw e;
      return page(reply, err.status, bulkPage(s.c, undefined, err));
    }
  }

  app.get("/console/audit", async (req, reply) => {
    const s = await requireOperator(req, reply);
    if (!s) return reply;
    const q = query(req);
    const f = { user: (q.user ?? "").slice(0, 64), event: (q.event ?? "").slice(0, 64), since: q.since ?? "", until: q.until ?? "" };
    const since = parseLocalDateTime(f.since, o.timeZone);
    const until = parseLocalDateTime(f.until, o.timeZone);
    const records = await portal.queryAudit({
      ...(f.user ? { userId: f.user } : {}), ...(f.event ? { event: f.event } : {}),
      ...(since ? { since } : {}), ...(until ? { until } : {}), limit: 500,
    });
    return page(reply, 200, auditPage(s.c, { ...f, since: since ? f.since : "", until: until ? f.until : "" }, records));
  });

  if (o.renewPage) {
    const renewPage = o.renewPage;
    renewRoutes(app, renewPage, async (req, reply) => {
      const s = await requireSession(req, reply, "full");
      return s ? { c: await userCtx(req, s), cert: s.id.cert } : undefined;
    });
  }

  await app.register(apiPlugin, { prefix: "/api/v1", portal });
  if (o.est) {
    const { renewal, ...est } = o.est;
    await app.register(estPlugin, {
      prefix: "/.well-known/est", ...est,
      reenroll: { renewal, identify: (req) => Promise.resolve(identity(req)) },
    });
  }
  return app;
}
