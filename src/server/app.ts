/** The HTTPS service: one fastify instance, EST mounted at /.well-known/est. */
import Fastify, { type FastifyInstance } from "fastify";
import { csrAttrsFor } from "../est/csrattrs.js";
import { estPlugin, EST_BODY_LIMIT } from "../est/plugin.js";
import { answerEnrollOnTheWire } from "../est/wire.js";
import { wireAnswerLog } from "../http/wire_head.js";
import { codedErrors, frameworkErrors } from "../http/errors.js";
import { FailureLimiter, type FailureLimit } from "../http/failure_limiter.js";
import type { CaServices } from "./services.js";
import { describeUserIdPattern, type UserIdFormat } from "./user_id_words.js";
import { toPem } from "../pki/pem.js";
import { buildPortal } from "../web/portal.js";
import { enrollRoutes } from "../web/enroll_page.js";
import { sendHttpsHeaders, TLS_POLICY } from "../http/tls_policy.js";

export interface AppOptions {
  readonly logLevel?: "silent" | "error" | "warn" | "info" | "debug";
  /** Overrides the configured per-address failure limit (the counts stay in the database, shared). */
  readonly failureLimit?: FailureLimit;
  /** The portal's public base URL once it listens (published in /.well-known/shomei.json). */
  readonly portalUrl?: () => string | undefined;
  /** simpleenroll answered on the wire (est/wire.ts) where it can be; false leaves every request to fastify (tests compare both). */
  readonly estWire?: boolean;
}

/** Where clients find the service's parts: /.well-known/shomei.json on the EST port. */
export interface ServiceDescription {
  readonly service: string;
  readonly organization: string;
  readonly portalUrl: string | null;
  /** EST base for simplereenroll (needs the client certificate, so it is on the portal's listener). */
  readonly reenrollUrl: string | null;
  readonly rootFingerprint: string;
  readonly helpdesk: string;
  /** The oldest issuance application (`shomei`) allowed to enroll or renew. */
  readonly minClientVersion: string;
  /** The service's time (ISO 8601), so `shomei doctor` can tell a PC whose clock is off. */
  readonly serverTime: string;
  /** The user ID pattern, and the same in words (null when it has none): clients check before sending and show the words. */
  readonly userIdPattern: string;
  readonly userIdFormat: UserIdFormat | null;
  /** The key the service asks for (csrattrs says the same): the browser page generates this kind. */
  readonly keyKind: string;
}

/** The services' limiter, or one with the overriding limit over the same store. */
function limiterFor(s: CaServices, o: AppOptions): FailureLimiter {
  return o.failureLimit ? new FailureLimiter(s.store, o.failureLimit, s.clock) : s.limiter;
}

export async function buildApp(s: CaServices, o: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    https: { key: s.tls.key, cert: s.tls.cert, ...TLS_POLICY },
    bodyLimit: EST_BODY_LIMIT,
    frameworkErrors: frameworkErrors(EST_BODY_LIMIT, s.config.helpdesk),
    logger: { level: o.logLevel ?? "warn" },
    // EST clients send a slash-less base path; keep routes exact.
    routerOptions: { ignoreTrailingSlash: true },
  });
  codedErrors(app, EST_BODY_LIMIT, s.config.helpdesk);
  sendHttpsHeaders(app.server);
  const limiter = limiterFor(s, o);
  await app.register(estPlugin, {
    prefix: "/.well-known/est",
    enrollment: s.enrollment,
    caCertificates: [s.issuingDer, s.rootDer],
    csrAttrs: csrAttrsFor(s.config.keyKind),
    helpdesk: s.config.helpdesk,
    limiter,
  });
  // simpleenroll of the plain shape (a new connection, Connection: close) answered ahead of Node's parser and fastify (est/wire.ts).
  if (o.estWire !== false) answerEnrollOnTheWire(app.server, {
    prefix: "/.well-known/est", enrollment: s.enrollment, limiter, helpdesk: s.config.helpdesk,
    logError: (err) => app.log.error({ err }, "internal error"),
    // At level info (serve --verbose) fastify logs each request it answers; these are logged the same way.
    onAnswered: wireAnswerLog(app.log),
  });
  app.get("/.well-known/shomei.json", (_req, reply) => {
    const portal = o.portalUrl?.()?.replace(/\/$/, "") ?? null;
    const d: ServiceDescription = {
      service: s.config.serviceName, organization: s.config.organization,
      portalUrl: portal ? `${portal}/` : null, reenrollUrl: portal ? `${portal}/.well-known/est` : null,
      rootFingerprint: s.rootFingerprint, helpdesk: s.config.helpdesk, minClientVersion: s.config.minClientVersion,
      serverTime: s.clock().toISOString(),
      userIdPattern: s.config.userIdPattern, userIdFormat: describeUserIdPattern(s.config.userIdPattern) ?? null,
      keyKind: s.config.keyKind,
    };
    void reply.type("application/json; charset=utf-8").send(d);
  });
  // The browser's issuance application (nothing to install): /enroll and its script.
  enrollRoutes(app, {
    serviceName: s.config.serviceName, helpdesk: s.config.helpdesk, timeZone: s.config.timeZone,
    data: () => ({
      keyKind: s.config.keyKind, rootFingerprint: s.rootFingerprint, userIdPattern: s.config.userIdPattern,
      userIdFormat: describeUserIdPattern(s.config.userIdPattern) ?? null,
      portalUrl: o.portalUrl?.()?.replace(/\/$/, "") ?? null,
    }),
  });
  app.get("/", (_req, reply) => {
    void reply.type("text/plain; charset=utf-8").send(
      `${s.config.serviceName} — ${s.config.organization}\n` +
      `EST: /.well-known/est (RFC 7030)\n` +
      `Enrollment in the browser / ブラウザーで証明書を取得: /enroll\n` +
      `Root CA fingerprint (SHA-256): ${s.rootFingerprint}\n` +
      `Helpdesk: ${s.config.helpdesk}\n`,
    );
  });
  return app;
}

/** The online system on its own listener (it asks every browser for a client certificate). */
export function buildPortalApp(s: CaServices, o: AppOptions = {}): Promise<FastifyInstance> {
  return buildPortal({
    portal: s.portal,
    tls: s.tls,
    clientCas: [toPem(s.issuingDer, "CERTIFICATE"), toPem(s.rootDer, "CERTIFICATE")],
    est: {
      enrollment: s.enrollment, renewal: s.renewal, caCertificates: [s.issuingDer, s.rootDer],
      csrAttrs: csrAttrsFor(s.config.keyKind), helpdesk: s.config.helpdesk,
      limiter: limiterFor(s, o),
    },
    renewPage: { keyKind: s.config.keyKind, rootFingerprint: s.rootFingerprint, userIdPattern: s.config.userIdPattern },
    serviceName: s.config.serviceName,
    helpdesk: s.config.helpdesk,
    timeZone: s.config.timeZone,
    ...(o.logLevel ? { logLevel: o.logLevel } : {}),
  });
}

export { publicBase } from "./public_base.js";
