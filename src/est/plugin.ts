/**
 * RFC 7030 (EST) under /.well-known/est: cacerts, simpleenroll, csrattrs, and simplereenroll
 * where the listener asks for client certificates. Bodies are base64
 * with `Content-Transfer-Encoding: base64`, as the RFC says. This layer only reads, checks
 * and renders; who may enroll is the EnrollmentService's decision.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { isShomeiError, ShomeiError } from "../i18n/errors.js";
import { certsOnly } from "../pki/pkcs7.js";
import { decodeBase64Strict } from "../pki/pem.js";
import type { EnrollmentService } from "../registration/enrollment.js";
import type { RenewalService } from "../registration/renewal.js";
import type { CertificateRecord } from "../ca/ports.js";
import type { UserRecord } from "../registration/ports.js";
import { sendError, toShomeiError } from "../http/errors.js";
import type { FailureLimiter } from "../http/failure_limiter.js";

export const EST_BODY_LIMIT = 64 * 1024;

export interface EstOptions {
  readonly enrollment: EnrollmentService;
  /** Issuing CA first, then the root. */
  readonly caCertificates: readonly Buffer[];
  readonly csrAttrs: Buffer;
  readonly helpdesk: string;
  /**
   * The per-address failure limit. One instance over the database for every listener (the
   * services' `limiter`), so an address paused on one port is paused on all.
   */
  readonly limiter: FailureLimiter;
  /**
   * simplereenroll, where the listener asks for client certificates (the portal's): `identify`
   * returns the presented certificate and its user, or throws why it is not acceptable.
   */
  readonly reenroll?: {
    readonly renewal: RenewalService;
    identify(req: FastifyRequest): Promise<{ cert: CertificateRecord; user: UserRecord }>;
  };
}

/** Base64 in lines of 64 characters, as EST clients (and `openssl base64 -d`) expect. */
function base64Lines(der: Uint8Array): string {
  return (Buffer.from(der).toString("base64").match(/.{1,64}/g) ?? []).join("\r\n") + "\r\n";
}

/** HTTP Basic credentials from the Authorization header's value: user ID and passcode. */
export function basicAuth(authorization: string | undefined): { userId: string; passcode: string } {
  const h = authorization ?? "";
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h);
  if (!m?.[1]) throw new ShomeiError("AUTH_REQUIRED");
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 1) throw new ShomeiError("AUTH_REQUIRED");
  return { userId: decoded.slice(0, colon).trim(), passcode: decoded.slice(colon + 1) };
}

export const passcodeRejected = (e: unknown): boolean => isShomeiError(e) && e.code === "PASSCODE_REJECTED";

/** The body of a certificate answer: a certs-only PKCS#7 with the one certificate, base64 in lines. */
export function certsOnlyText(der: Uint8Array): string {
  return base64Lines(certsOnly([der]));
}

export const estPlugin: FastifyPluginAsync<EstOptions> = (app, opts) => {
  const cacerts = base64Lines(certsOnly(opts.caCertificates));
  const csrattrs = base64Lines(opts.csrAttrs);

  app.addContentTypeParser(["application/pkcs10", "application/pkcs10-base64"], { parseAs: "string", bodyLimit: EST_BODY_LIMIT }, (_req, body, done) => {
    done(null, body);
  });

  app.setErrorHandler((err, req, reply) => sendError(req, reply, toShomeiError(err, EST_BODY_LIMIT, req.headers["content-type"]), opts.helpdesk));
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).type("text/plain; charset=utf-8").send(`Not found: ${req.url}\n`);
  });

  app.get("/cacerts", (_req, reply) => {
    void reply
      .header("Content-Transfer-Encoding", "base64")
      .type("application/pkcs7-mime")
      .send(cacerts);
  });

  app.get("/csrattrs", (_req, reply) => {
    void reply.header("Content-Transfer-Encoding", "base64").type("application/csrattrs").send(csrattrs);
  });

  const csrOf = (req: FastifyRequest): Buffer => {
    if (typeof req.body !== "string") {
      throw new ShomeiError("UNSUPPORTED_MEDIA_TYPE", { type: req.headers["content-type"] ?? "-" });
    }
    return decodeBase64Strict(req.body);
  };
  const certsReply = (reply: FastifyReply, cert: CertificateRecord): FastifyReply => reply
    .header("Content-Transfer-Encoding", "base64")
    .type("application/pkcs7-mime; smime-type=certs-only")
    .send(certsOnlyText(cert.der));

  app.post("/simpleenroll", { bodyLimit: EST_BODY_LIMIT }, async (req, reply) => {
    const { userId, passcode } = basicAuth(req.headers.authorization);
    // A slot for this address is reserved before the passcode is evaluated and settled after:
    // a wrong passcode counts, anything else only frees the slot.
    const cert = await opts.limiter.guard(req.ip, passcodeRejected, () =>
      opts.enrollment.simpleEnroll({ userId, passcode, csrDer: csrOf(req), remote: req.ip }));
    return certsReply(reply, cert);
  });

  const reenroll = opts.reenroll;
  if (reenroll) {
    app.post("/simplereenroll", { bodyLimit: EST_BODY_LIMIT }, async (req, reply) => {
      const { cert, user } = await reenroll.identify(req);
      const issued = await reenroll.renewal.simpleReenroll({ current: cert, user, csrDer: csrOf(req), remote: req.ip });
      return certsReply(reply, issued);
    });
  }

  return Promise.resolve();
};
