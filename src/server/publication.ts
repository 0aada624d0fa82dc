/**
 * The plain-HTTP publication listener: CRL, OCSP and the issuing CA certificate, which relying
 * parties fetch without TLS (they check signatures, and fetching them over TLS would need
 * revocation checking of its own). Nothing secret and nothing that changes state is here.
 */
import { readFile } from "node:fs/promises";
import type { RequestListener } from "node:http";
import Fastify, { type FastifyInstance } from "fastify";
import { codedErrors, frameworkErrors } from "../http/errors.js";
import { OcspHttpServer } from "../status/ocsp_wire.js";
import { getCaching, OCSP_BODY_LIMIT, ocspPostFastPath, statusFrameworkError, statusPlugin } from "../status/plugin.js";
import { wireAnswerLog } from "../http/wire_head.js";
import type { StatusServices } from "./status_services.js";

export interface PublicationOptions {
  readonly logLevel?: "silent" | "error" | "warn" | "info" | "debug";
  readonly clock?: () => Date;
  /** OCSP POSTs and GETs answered ahead of fastify where they can be; false leaves every request to fastify (tests compare both). */
  readonly ocspWire?: boolean;
}

export async function buildPublicationApp(s: StatusServices, o: PublicationOptions = {}): Promise<FastifyInstance> {
  const clock = o.clock ?? ((): Date => new Date());
  const maxAge = s.config.ocsp.httpMaxAgeSeconds;
  // The wire paths log their answers only at level info or lower, to fastify's logger (made below, used only once requests come).
  const onAnswered = wireAnswerLog({ level: o.logLevel ?? "warn", info: (fields, message) => app.log.info(fields, message) });
  // OCSP POSTs and GETs (most of this listener's traffic) are answered ahead of the framework:
  // on the connection itself when the request is of the common shape and its answer pre-signed
  // in memory (OcspHttpServer), else POSTs in Node's request handler (ocspPostFastPath); the
  // rest by fastify (statusPlugin), which writes the same answers.
  const fast = ocspPostFastPath(s.ocsp, onAnswered);
  const app = Fastify({
    bodyLimit: OCSP_BODY_LIMIT, frameworkErrors: statusFrameworkError(frameworkErrors(OCSP_BODY_LIMIT, s.config.helpdesk)), logger: { level: o.logLevel ?? "warn" },
    ...(o.ocspWire === false ? {} : {
      serverFactory: (handler: RequestListener) => new OcspHttpServer((req, res) => {
        if (!fast(req, res)) handler(req, res);
      }, { answer: (der) => s.ocsp.answerFromMemory(der), caching: (c) => getCaching(c, clock().getTime(), maxAge), ...(onAnswered ? { onAnswered } : {}) }),
    }),
  });
  codedErrors(app, OCSP_BODY_LIMIT, s.config.helpdesk);
  await app.register(statusPlugin, { ocsp: s.ocsp, crl: s.crl, crlShards: s.config.crl.shards, issuingDer: s.issuingDer, rootDer: s.rootDer, arl: () => readFile(s.dir.arl).catch(() => undefined), helpdesk: s.config.helpdesk, clock, httpMaxAgeSeconds: maxAge });
  return app;
}

export { publicationUrls } from "./public_base.js";

