/**
 * The plain-HTTP publication listener: CRL, OCSP and the issuing CA certificate, which relying
 * parties fetch without TLS (they check signatures, and fetching them over TLS would need
 * revocation checking of its own). Nothing secret and nothing that changes state is here.
 */
import { readFile } from "node:fs/promises";
import Fastify, { type FastifyInstance } from "fastify";
import { codedErrors, frameworkErrors } from "../http/errors.js";
import { OcspHttpServer } from "../status/ocsp_wire.js";
import { OCSP_BODY_LIMIT, ocspPostFastPath, statusFrameworkError, statusPlugin } from "../status/plugin.js";
import type { StatusServices } from "./status_services.js";

export interface PublicationOptions {
  readonly logLevel?: "silent" | "error" | "warn" | "info" | "debug";
  readonly clock?: () => Date;
}

export async function buildPublicationApp(s: StatusServices, o: PublicationOptions = {}): Promise<FastifyInstance> {
  // OCSP POSTs (most of this listener's traffic) are answered ahead of the framework: on the
  // connection itself when the request is of the common shape and its answer pre-signed in
  // memory (OcspHttpServer), else in Node's request handler (ocspPostFastPath).
  const fast = ocspPostFastPath(s.ocsp);
  const app = Fastify({
    bodyLimit: OCSP_BODY_LIMIT, frameworkErrors: statusFrameworkError(frameworkErrors(OCSP_BODY_LIMIT, s.config.helpdesk)), logger: { level: o.logLevel ?? "warn" },
    serverFactory: (handler) => new OcspHttpServer((req, res) => {
      if (!fast(req, res)) handler(req, res);
    }, { answer: (der) => s.ocsp.answerFromMemory(der)?.body }),
  });
  codedErrors(app, OCSP_BODY_LIMIT, s.config.helpdesk);
  await app.register(statusPlugin, { ocsp: s.ocsp, crl: s.crl, crlShards: s.config.crl.shards, issuingDer: s.issuingDer, rootDer: s.rootDer, arl: () => readFile(s.dir.arl).catch(() => undefined), helpdesk: s.config.helpdesk, clock: o.clock ?? ((): Date => new Date()), httpMaxAgeSeconds: s.config.ocsp.httpMaxAgeSeconds });
  return app;
}

export { publicationUrls } from "./public_base.js";

