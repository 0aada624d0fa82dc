/**
 * Revocation status over plain HTTP (relying parties fetch these without TLS, RFC 5280 / 6960):
 *   GET  /ocsp/{url-encoded base64 DER}   RFC 6960 A.1, RFC 5019 (cacheable: max-age, ETag, Last-Modified, Expires)
 *   POST /ocsp                            application/ocsp-request
 *   GET  /crl/issuing.crl                 the full CRL, DER, application/pkix-crl
 *   GET  /crl/issuing-N.crl               CRL shard N (crl.shards > 1): what certificates name as CDP
 *   GET  /ca/issuing.crt                  the issuing CA certificate (AIA caIssuers)
 *   GET  /crl/root.crl                    the root's CRL of the CAs it certifies (ARL; the issuing CA's CDP)
 *   GET  /ca/root.crt                     the root CA certificate (the issuing CA's AIA caIssuers)
 * A request that is not OCSP gets an OCSPResponse saying malformedRequest with HTTP 200: OCSP
 * clients read the status inside the body (OpenSSL, NSS, Windows all do), and a 4xx would only
 * hide that status from them.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import type { WireAnswered } from "../http/wire_head.js";
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { sendError, toShomeiError } from "../http/errors.js";
import { ocspErrorResponse } from "../pki/ocsp.js";
import { ARL, FULL, shardScope, type CrlPublisher, type PublishedCrl } from "./crl_publisher.js";
import type { OcspReply, OcspResponder } from "./ocsp_responder.js";

/** An OCSP request is a few hundred bytes; this leaves room for a signed one. */
export const OCSP_BODY_LIMIT = 16 * 1024;

export interface StatusOptions {
  readonly ocsp: Pick<OcspResponder, "answerFromMemory" | "answer">;
  readonly crl: Pick<CrlPublisher, "read">;
  /** crl.shards: /crl/issuing-N.crl for N below it answer 503 until signed, others 404. */
  readonly crlShards: number;
  readonly issuingDer: Buffer;
  /** The root CA certificate, served for the issuing CA's AIA caIssuers. */
  readonly rootDer?: Buffer;
  /** Reads the ARL (signed offline by the root: a file, read at each request so a new one is served without a restart). */
  readonly arl?: () => Promise<Buffer | undefined>;
  readonly clock: () => Date;
  /** Named in the error answers of the non-OCSP routes. */
  readonly helpdesk?: string;
  /** The longest max-age of a GET OCSP answer (config ocsp.httpMaxAgeSeconds; default 60). */
  readonly httpMaxAgeSeconds?: number;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The longest GET request's base64 the route decodes (longer ones are answered malformedRequest). */
export const OCSP_GET_BASE64_LIMIT = OCSP_BODY_LIMIT * 2;

/** The DER request a GET carries: its base64 (URL-decoded, whitespace removed), or undefined when it is not base64. */
export function getRequestDer(b64: string): Buffer | undefined {
  return BASE64.test(b64) && b64.length > 0 && b64.length <= OCSP_GET_BASE64_LIMIT ? Buffer.from(b64, "base64") : undefined;
}

/** The caching headers of a GET answer that may be cached (RFC 5019 6.2), in the order they are written. */
export interface GetCaching {
  readonly cacheControl: string;
  readonly etag: string;
  readonly lastModified: string;
  readonly expires: string;
}

/**
 * What a cache may do with a cacheable GET answer at `now` (ms): max-age and Expires never reach
 * past its nextUpdate (nor `httpMaxAgeSeconds`, default 60), Last-Modified is its thisUpdate, and
 * the ETag names its bytes. The route and the wire path (ocsp_wire.ts) both write these.
 */
export function getCaching(c: NonNullable<OcspReply["cacheable"]>, now: number, httpMaxAgeSeconds: number | undefined): GetCaching {
  const maxAge = Math.max(0, Math.min(httpMaxAgeSeconds ?? 60, Math.floor((c.nextUpdate.getTime() - now) / 1000)));
  const expires = now + maxAge * 1000;
  // The strings depend on nothing else than max-age and the second Expires falls in (an HTTP date
  // has no milliseconds): the last ones made for this answer are kept (formatting two dates was
  // most of a GET answered on the wire's own work).
  const second = Math.floor(expires / 1000);
  const last = lastCaching.get(c);
  if (last?.maxAge === maxAge && last.second === second) return last.value;
  const value: GetCaching = {
    cacheControl: `max-age=${maxAge}, public, no-transform, must-revalidate`, etag: c.etag,
    lastModified: c.thisUpdate.toUTCString(), expires: new Date(expires).toUTCString(),
  };
  lastCaching.set(c, { maxAge, second, value });
  return value;
}

/** getCaching()'s last answer per cacheable reply (gone with the reply). */
const lastCaching = new WeakMap<object, { readonly maxAge: number; readonly second: number; readonly value: GetCaching }>();

const SHARD_FILE = /^issuing-(\d{1,3})\.crl$/;

/**
 * For the listener's `frameworkErrors`: what the router refuses before any plugin sees it (a
 * URL that does not decode, such as a GET request whose base64 ends in "%"). On /ocsp that is
 * still answered in OCSP (malformedRequest); elsewhere `otherwise` answers (a coded 4xx).
 */
export function statusFrameworkError(otherwise: (error: FastifyError, req: FastifyRequest, reply: FastifyReply) => void) {
  return (error: FastifyError, req: FastifyRequest, reply: FastifyReply): void => {
    if (!req.url.startsWith("/ocsp")) {
      otherwise(error, req, reply);
      return;
    }
    void reply.code(200).type("application/ocsp-response").header("cache-control", "no-store").send(ocspErrorResponse("malformedRequest"));
  };
}

export const statusPlugin: FastifyPluginAsync<StatusOptions> = (app, opts) => {
  app.addContentTypeParser("application/ocsp-request", { parseAs: "buffer", bodyLimit: OCSP_BODY_LIMIT }, (_req, body, done) => {
    done(null, body);
  });

  // Whatever fastify refuses before a handler runs (body too large, another content type) is,
  // on the OCSP routes, still answered in OCSP: clients read the status, not the HTTP code.
  app.setErrorHandler((error, req, reply) => {
    const e = toShomeiError(error, OCSP_BODY_LIMIT, req.headers["content-type"]);
    if (!req.url.startsWith("/ocsp")) return sendError(req, reply, e, opts.helpdesk ?? "-");
    if (e.status >= 500) req.log.error({ err: error }, "internal error");
    return reply.code(200).type("application/ocsp-response").header("cache-control", "no-store")
      .send(ocspErrorResponse(e.status < 500 ? "malformedRequest" : "internalError"));
  });

  /**
   * Sends an answer. A GET answer that may be cached (RFC 5019 6.2) says until when: max-age
   * and Expires never reach past its nextUpdate (nor httpMaxAgeSeconds), Last-Modified is its
   * thisUpdate, and the ETag names its bytes (If-None-Match gets 304). Everything else: no-store.
   */
  const send = (req: FastifyRequest, reply: FastifyReply, r: OcspReply, get: boolean): FastifyReply => {
    void reply.type("application/ocsp-response");
    if (!get || !r.cacheable) return reply.header("cache-control", "no-store").send(r.body);
    const c = getCaching(r.cacheable, opts.clock().getTime(), opts.httpMaxAgeSeconds);
    void reply.header("cache-control", c.cacheControl).header("etag", c.etag).header("last-modified", c.lastModified).header("expires", c.expires);
    if (req.headers["if-none-match"] === c.etag) return reply.code(304).send();
    return reply.send(r.body);
  };
  const ocspReply = (req: FastifyRequest, reply: FastifyReply, der: Buffer | undefined, get: boolean): FastifyReply | Promise<FastifyReply> => {
    if (!der) return send(req, reply, { body: ocspErrorResponse("malformedRequest") }, get);
    // The common case, answered without a promise: a pre-signed answer in memory.
    const hit = opts.ocsp.answerFromMemory(der);
    if (hit) return send(req, reply, hit, get);
    return opts.ocsp.answer(der).then((r) => send(req, reply, r, get));
  };

  app.post("/ocsp", (req, reply) => ocspReply(req, reply, Buffer.isBuffer(req.body) ? req.body : undefined, false));
  // Some clients (and RFC 5019 ones) append the request to a trailing slash, or to the URL as is.
  app.get("/ocsp/*", (req, reply) => {
    const raw = (req.params as { "*"?: string })["*"] ?? "";
    let b64: string;
    try {
      b64 = decodeURIComponent(raw).replace(/\s/g, "");
    } catch {
      b64 = "";
    }
    return ocspReply(req, reply, getRequestDer(b64), true);
  });

  /** A stored CRL with its caching headers; a cache may keep it until nextUpdate, but at most `maxAgeCap` seconds. */
  const sendCrl = (req: FastifyRequest, reply: FastifyReply, crl: PublishedCrl, maxAgeCap: number): FastifyReply => {
    const maxAge = Math.max(0, Math.floor((crl.nextUpdate.getTime() - opts.clock().getTime()) / 1000));
    void reply.header("etag", crl.etag).header("last-modified", crl.thisUpdate.toUTCString())
      .header("cache-control", `max-age=${Math.min(maxAge, maxAgeCap)}, public, no-transform`);
    if (req.headers["if-none-match"] === crl.etag) return reply.code(304).send();
    return reply.type("application/pkix-crl").send(crl.der);
  };
  const notYet = (reply: FastifyReply): FastifyReply =>
    reply.code(503).header("retry-after", "5").type("text/plain; charset=utf-8").send("CRL not available yet / CRL はまだ用意できていません\n");

  // Only ever CRLs already signed and stored: nothing a request does makes one be signed.
  // A revocation must not wait behind a cache: the issuing CA's CRLs at most a minute.
  app.get("/crl/issuing.crl", async (req, reply) => {
    const crl = await opts.crl.read(FULL);
    return crl ? sendCrl(req, reply, crl, 60) : notYet(reply);
  });
  // The shards (crl.shards > 1): /crl/issuing-N.crl, named in each certificate's CRL distribution point.
  app.get("/crl/:file", async (req, reply) => {
    const m = SHARD_FILE.exec((req.params as { file?: string }).file ?? "");
    const crl = m ? await opts.crl.read(shardScope(Number(m[1]))) : undefined;
    if (crl) return sendCrl(req, reply, crl, 60);
    if (m && Number(m[1]) < opts.crlShards) return notYet(reply);
    return reply.code(404).type("text/plain; charset=utf-8").send("Not found / 見つかりません\n");
  });

  app.get("/ca/issuing.crt", (_req, reply) => {
    void reply.type("application/pkix-cert").header("cache-control", "max-age=86400, public").send(opts.issuingDer);
  });

  const rootDer = opts.rootDer;
  if (rootDer) {
    app.get("/ca/root.crt", (_req, reply) => {
      void reply.type("application/pkix-cert").header("cache-control", "max-age=86400, public").send(rootDer);
    });
  }
  const arl = opts.arl;
  if (arl) {
    // The ARL as stored (imported from ca/root.crl by the signer), else the file itself.
    app.get("/crl/root.crl", async (req, reply) => {
      const stored = await opts.crl.read(ARL);
      if (stored) return sendCrl(req, reply, stored, 3600);
      const der = await arl();
      if (!der) return reply.code(404).type("text/plain; charset=utf-8").send("No ARL: run shomei-ca ca sign-arl / ARL がありません: shomei-ca ca sign-arl を実行してください\n");
      return reply.type("application/pkix-crl").header("cache-control", "max-age=3600, public, no-transform").send(der);
    });
  }
  return Promise.resolve();
};

/**
 * The hot path of OCSP by POST, ahead of fastify (the listener's request handler calls it
 * first): a POST to /ocsp of an application/ocsp-request body is read here and answered here —
 * the pre-signed answer from memory, else responder.answer() — exactly as the route below would,
 * without the framework's request objects and hooks. Returns false for anything else, which
 * fastify then handles.
 */
export function ocspPostFastPath(ocsp: Pick<OcspResponder, "answerFromMemory" | "answer">, onAnswered?: (a: WireAnswered) => void): (req: IncomingMessage, res: ServerResponse) => boolean {
  const write = (res: ServerResponse, body: Buffer, close: boolean): void => {
    res.writeHead(200, {
      // In the order fastify's route writes them (content-length last), so every path gives the same bytes.
      "content-type": "application/ocsp-response", "cache-control": "no-store", "content-length": body.length,
      ...(close ? { connection: "close" } : {}),
    });
    res.end(body);
  };
  return (req, res) => {
    if (req.method !== "POST" || req.url !== "/ocsp" || req.headers["content-type"] !== "application/ocsp-request") return false;
    if (onAnswered) {
      // Logged as fastify logs the requests it answers (level info): where from, and how long it took.
      const started = performance.now();
      const { remoteAddress = "", remotePort } = req.socket;
      res.once("finish", () => onAnswered({ method: "POST", url: "/ocsp", remoteAddress, remotePort, statusCode: res.statusCode, responseTimeMs: performance.now() - started }));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on("data", (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > OCSP_BODY_LIMIT) {
        // As the route answers a body over the limit; the rest is not read.
        done = true;
        write(res, ocspErrorResponse("malformedRequest"), true);
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (done) return;
      done = true;
      const body = chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks);
      if (body.length === 0) return write(res, ocspErrorResponse("malformedRequest"), false);
      const hit = ocsp.answerFromMemory(body);
      if (hit) return write(res, hit.body, false);
      void ocsp.answer(body).then((r) => write(res, r.body, false), () => write(res, ocspErrorResponse("internalError"), false));
    });
    req.on("error", () => {
      done = true;
    });
    return true;
  };
}
