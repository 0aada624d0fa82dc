/**
 * Turning errors into HTTP answers, for every HTTP edge: the status from the catalog, a
 * plain-text body (or application/problem+json when the client asks for it), the remedy and
 * the helpdesk. 5xx details never leave the server.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ShomeiError, isShomeiError, isoTimes, REMEDY_LABEL } from "../i18n/errors.js";
import { langFromAcceptLanguage } from "../i18n/lang.js";
import { boundedText } from "../util/untrusted_text.js";

/**
 * Maps fastify's own errors onto catalog codes. Whatever fastify or a body parser refuses as the
 * client's fault (a 4xx: invalid or empty JSON, a bad Content-Length, a malformed URL or
 * multipart body, a schema violation) is a coded 4xx; only what is left is INTERNAL.
 */
export function toShomeiError(e: unknown, bodyLimit: number, contentType = "-"): ShomeiError {
  if (isShomeiError(e)) return e;
  const fe = e as (Partial<FastifyError> & { status?: unknown }) | undefined;
  const type = boundedText(contentType, 100);
  switch (fe?.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new ShomeiError("BODY_TOO_LARGE", { limit: bodyLimit });
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new ShomeiError("UNSUPPORTED_MEDIA_TYPE", { type });
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new ShomeiError("BAD_JSON", {}, { cause: e });
    default:
      break;
  }
  const status = typeof fe?.statusCode === "number" ? fe.statusCode : typeof fe?.status === "number" ? fe.status : 0;
  if (status === 413) return new ShomeiError("BODY_TOO_LARGE", { limit: bodyLimit });
  if (status === 415) return new ShomeiError("UNSUPPORTED_MEDIA_TYPE", { type });
  if (status >= 400 && status < 500) return new ShomeiError("REQUEST_MALFORMED", {}, { cause: e });
  return new ShomeiError("INTERNAL", {}, { cause: e });
}

export function wantsProblemJson(req: FastifyRequest): boolean {
  return (req.headers.accept ?? "").includes("application/problem+json");
}

/** A request made by a page's script (fetch), not a navigation or a command-line client. */
export function fromPageScript(req: FastifyRequest): boolean {
  const mode = req.headers["sec-fetch-mode"];
  return mode === "cors" || mode === "same-origin" || req.headers["x-shomei-client"] === "browser";
}

export function sendError(req: FastifyRequest, reply: FastifyReply, e: ShomeiError, helpdesk: string): FastifyReply {
  const lang = langFromAcceptLanguage(req.headers["accept-language"]);
  if (e.code === "INTERNAL") req.log.error({ err: e.cause ?? e }, "internal error");
  // Not to a script's fetch() (the browser enrollment page): the browser would open its own login dialog over the page.
  if (e.status === 401 && !fromPageScript(req)) void reply.header("WWW-Authenticate", 'Basic realm="shomei", charset="UTF-8"');
  if (e.status === 429) void reply.header("Retry-After", String(Number(e.params.minutes ?? 1) * 60));
  void reply.code(e.status);
  if (wantsProblemJson(req)) {
    const times = isoTimes(e);
    return reply.type("application/problem+json").send({
      type: `urn:shomei:error:${e.code}`,
      title: e.text(lang),
      status: e.status,
      code: e.code,
      detail: e.text(lang),
      remedy: e.remedy(lang),
      helpdesk,
      // The texts show times for people (in the service's zone); programs get them as ISO 8601.
      ...(times ? { params: times } : {}),
      // A wrong passcode: how many more wrong ones before it is voided.
      ...(e.code === "PASSCODE_REJECTED" && typeof e.params.triesLeft === "number" ? { triesLeft: e.params.triesLeft } : {}),
    });
  }
  const helpLabel = lang === "ja" ? "問い合わせ先" : "Helpdesk";
  return reply.type("text/plain; charset=utf-8").send(
    `[${e.code}] ${e.text(lang)}\n${REMEDY_LABEL[lang]}: ${e.remedy(lang)}\n${helpLabel}: ${helpdesk}\n`,
  );
}

/**
 * Catalog answers for a listener's root context: what its own routes throw, what fastify refuses
 * before any route runs (a body for an unknown path, a malformed URL), and unknown paths.
 * Plugins with handlers of their own (EST, OCSP) keep them.
 */
export function codedErrors(app: FastifyInstance, bodyLimit: number, helpdesk: string): void {
  app.setErrorHandler((err, req, reply) => sendError(req, reply, toShomeiError(err, bodyLimit, req.headers["content-type"]), helpdesk));
  app.setNotFoundHandler((req, reply) =>
    sendError(req, reply, new ShomeiError("NOT_FOUND", { path: boundedText(req.url.split("?")[0] ?? "/", 100) }), helpdesk));
}

/**
 * For Fastify's `frameworkErrors` option: what the router refuses before any context exists (a
 * URL whose %-encoding is broken) gets a catalog answer too.
 */
export function frameworkErrors(bodyLimit: number, helpdesk: string): (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => void {
  return (err, req, reply) => {
    void sendError(req, reply, toShomeiError(err, bodyLimit, req.headers["content-type"]), helpdesk);
  };
}
