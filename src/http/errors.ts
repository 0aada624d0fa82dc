/**
 * Turning errors into HTTP answers, for every HTTP edge: the status from the catalog, a
 * plain-text body (or application/problem+json when the client asks for it), the remedy and
 * the helpdesk. 5xx details never leave the server.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { ShomeiError, isShomeiError, REMEDY_LABEL } from "../i18n/errors.js";
import { langFromAcceptLanguage } from "../i18n/lang.js";

/** Maps fastify's own errors (body too large, bad media type) onto catalog codes. */
export function toShomeiError(e: unknown, bodyLimit: number, contentType = "-"): ShomeiError {
  if (isShomeiError(e)) return e;
  const fe = e as Partial<FastifyError> | undefined;
  switch (fe?.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new ShomeiError("BODY_TOO_LARGE", { limit: bodyLimit });
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new ShomeiError("UNSUPPORTED_MEDIA_TYPE", { type: contentType });
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new ShomeiError("BAD_BASE64");
    default:
      return new ShomeiError("INTERNAL", {}, { cause: e });
  }
}

export function wantsProblemJson(req: FastifyRequest): boolean {
  return (req.headers.accept ?? "").includes("application/problem+json");
}

export function sendError(req: FastifyRequest, reply: FastifyReply, e: ShomeiError, helpdesk: string): FastifyReply {
  const lang = langFromAcceptLanguage(req.headers["accept-language"]);
  if (e.code === "INTERNAL") req.log.error({ err: e.cause ?? e }, "internal error");
  if (e.status === 401) void reply.header("WWW-Authenticate", 'Basic realm="shomei", charset="UTF-8"');
  if (e.status === 429) void reply.header("Retry-After", String(Number(e.params.minutes ?? 1) * 60));
  void reply.code(e.status);
  if (wantsProblemJson(req)) {
    return reply.type("application/problem+json").send({
      type: `urn:shomei:error:${e.code}`,
      title: e.text(lang),
      status: e.status,
      code: e.code,
      detail: e.text(lang),
      remedy: e.remedy(lang),
      helpdesk,
    });
  }
  const helpLabel = lang === "ja" ? "問い合わせ先" : "Helpdesk";
  return reply.type("text/plain; charset=utf-8").send(
    `[${e.code}] ${e.text(lang)}\n${REMEDY_LABEL[lang]}: ${e.remedy(lang)}\n${helpLabel}: ${helpdesk}\n`,
  );
}
