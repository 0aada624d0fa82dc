/**
 * EST simpleenroll answered on the TLS connection itself, ahead of Node's HTTP parser and
 * fastify. An EST client enrolls once, on a new connection: there Node's `http` (parser,
 * request and response objects, timers) and fastify's request path (routing, content-type
 * parser, hooks, reply) cost about as much as the enrollment's own work in JavaScript.
 *
 * The EST listener looks at the first bytes of each TLS connection: when they are exactly one
 * complete `POST /.well-known/est/simpleenroll` request of the plain shape (readEnrollPost: a
 * strict subset of what Node's parser reads the same way, `Connection: close`,
 * `Content-Type: application/pkcs10`, a Content-Length body) whose HTTP Basic credentials and
 * base64 body read as the fastify route reads them, it runs the same enrollment under the same
 * address limit and writes the answer Node and fastify would have written (the certificate, or
 * the catalog error as text). Anything else — another request, a request in pieces, one that
 * asks for problem+json or comes from a page's script, credentials or a body the route would
 * refuse — goes to Node's HTTP server with its bytes unread, before anything happened, and is
 * answered as always. A connection that sends nothing is handed to Node after a while, which
 * then applies its own timeouts. wire.test.ts compares both paths byte for byte.
 */
import { STATUS_CODES } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { TLSSocket } from "node:tls";
import { isShomeiError, ShomeiError, REMEDY_LABEL } from "../i18n/errors.js";
import { langFromAcceptLanguage } from "../i18n/lang.js";
import type { EnrollmentService } from "../registration/enrollment.js";
import type { FailureLimiter } from "../http/failure_limiter.js";
import { HTTPS_HEADERS } from "../http/tls_policy.js";
import { changesFraming, contentLengthOf, headerLine, httpDate, MAX_HEAD, MAX_HEADER_LINES, nameIs, readHeaderLine, type WireAnswered } from "../http/wire_head.js";
import { decodeBase64Strict } from "../pki/pem.js";
import { basicAuth, certsOnlyText, EST_BODY_LIMIT, passcodeRejected } from "./plugin.js";

/** What the wire path needs of a request it takes. */
export interface WireEnroll {
  readonly authorization: string;
  readonly acceptLanguage: string | undefined;
  readonly body: string;
}

const PKCS10 = Buffer.from("application/pkcs10", "latin1");

/**
 * Reads `d` as exactly one complete HTTP/1.1 request `POST <path>` with `Connection: close`,
 * `Content-Type: application/pkcs10` and a Content-Length body of printable ASCII, in the plain
 * shape EST clients send. Anything else — headers that change how Node or fastify read or answer
 * the request (Transfer-Encoding, Expect, Upgrade, an Accept asking for problem+json,
 * Sec-Fetch-Mode, X-Shomei-Client), a repeated Host, Content-Type, Content-Length, Connection,
 * Authorization or Accept-Language, a byte Node might read leniently, whitespace after a value,
 * more or fewer bytes than the one request — gives undefined, and Node reads the request instead.
 */
export function readEnrollPost(d: Buffer, line: Buffer, requireHost = true): WireEnroll | undefined {
  const n = line.length;
  if (d.length < n + 2 || d.length > MAX_HEAD + EST_BODY_LIMIT) return undefined;
  for (let i = 0; i < n; i++) if (d[i] !== line[i]) return undefined;
  if (d[n] !== 0x0d || d[n + 1] !== 0x0a) return undefined;
  const limit = Math.min(d.length, MAX_HEAD);
  let p = n + 2;
  let contentType = 0;
  let contentLength = -1;
  let lengths = 0;
  let hosts = 0;
  let close = 0;
  let authorization: string | undefined;
  let auths = 0;
  let acceptLanguage: string | undefined;
  let languages = 0;
  const at = headerLine();
  for (let lines = 0; ; lines++) {
    if (lines > MAX_HEADER_LINES) return undefined;
    p = readHeaderLine(d, p, limit, at);
    if (p < 0) return undefined;
    if (at.end) break;
    const { nameStart, nameEnd, valueStart, valueEnd } = at;
    // Whitespace after a value: Node trims it where fastify or this path would not; such requests go to Node.
    if (valueEnd > valueStart && (d[valueEnd - 1] === 0x20 || d[valueEnd - 1] === 0x09)) return undefined;
    if (changesFraming(d, nameStart, nameEnd)) return undefined;
    switch (nameEnd - nameStart) {
      case 4:
        if (nameIs(d, nameStart, nameEnd, "host")) hosts++;
        break;
      case 6:
        if (nameIs(d, nameStart, nameEnd, "accept") && d.subarray(valueStart, valueEnd).toString("latin1").includes("application/problem+json")) return undefined;
        break;
      case 10:
        if (nameIs(d, nameStart, nameEnd, "connection")) {
          if (!nameIs(d, valueStart, valueEnd, "close")) return undefined;
          close++;
        }
        break;
      case 12:
        if (nameIs(d, nameStart, nameEnd, "content-type")) {
          if (!d.subarray(valueStart, valueEnd).equals(PKCS10)) return undefined;
          contentType++;
        }
        break;
      case 13:
        if (nameIs(d, nameStart, nameEnd, "authorization")) {
          auths++;
          authorization = d.subarray(valueStart, valueEnd).toString("latin1");
        }
        break;
      case 14:
        if (nameIs(d, nameStart, nameEnd, "sec-fetch-mode")) return undefined;
        if (nameIs(d, nameStart, nameEnd, "content-length")) {
          lengths++;
          contentLength = contentLengthOf(d, valueStart, valueEnd);
          if (contentLength < 0) return undefined;
        }
        break;
      case 15:
        if (nameIs(d, nameStart, nameEnd, "x-shomei-client")) return undefined;
        if (nameIs(d, nameStart, nameEnd, "accept-language")) {
          languages++;
          acceptLanguage = d.subarray(valueStart, valueEnd).toString("latin1");
        }
        break;
      default:
        break;
    }
  }
  if (contentType !== 1 || lengths !== 1 || close !== 1 || hosts > 1 || auths !== 1 || languages > 1 || (requireHost && hosts === 0)) return undefined;
  if (contentLength < 1 || contentLength > EST_BODY_LIMIT || d.length - p !== contentLength) return undefined;
  for (let i = p; i < d.length; i++) {
    const c = d[i] ?? 0;
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c > 0x7e) return undefined;
  }
  return { authorization: authorization ?? "", acceptLanguage, body: d.subarray(p).toString("latin1") };
}

const SECURITY_HEADERS = Object.entries(HTTPS_HEADERS).map(([k, v]) => `${k}: ${v}\r\n`).join("");

/** The bytes Node writes for fastify's reply: status, the listener's HTTPS headers, the reply's headers, Date, Connection: close. */
function answer(status: number, headers: string, body: string): Buffer {
  const length = Buffer.byteLength(body, "utf8");
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n${SECURITY_HEADERS}${headers}content-length: ${length}\r\nDate: ${httpDate()}\r\nConnection: close\r\n\r\n`;
  const out = Buffer.allocUnsafe(head.length + length);
  out.write(head, 0, "latin1");
  out.write(body, head.length, "utf8");
  return out;
}

/** The certificate answer (the route's certsReply). */
export function wireCertificate(der: Uint8Array): Buffer {
  return answer(200, "content-transfer-encoding: base64\r\ncontent-type: application/pkcs7-mime; smime-type=certs-only\r\n", certsOnlyText(der));
}

/** A catalog error as sendError writes it as text (the wire path takes no problem+json or script requests). */
export function wireError(e: ShomeiError, acceptLanguage: string | undefined, helpdesk: string): Buffer {
  const lang = langFromAcceptLanguage(acceptLanguage);
  const helpLabel = lang === "ja" ? "問い合わせ先" : "Helpdesk";
  let extra = "";
  if (e.status === 401) extra += 'www-authenticate: Basic realm="shomei", charset="UTF-8"\r\n';
  if (e.status === 429) extra += `retry-after: ${String(Number(e.params.minutes ?? 1) * 60)}\r\n`;
  return answer(e.status, `${extra}content-type: text/plain; charset=utf-8\r\n`, `[${e.code}] ${e.text(lang)}\n${REMEDY_LABEL[lang]}: ${e.remedy(lang)}\n${helpLabel}: ${helpdesk}\n`);
}

export interface EnrollWireOptions {
  /** Where the EST routes are mounted (`/.well-known/est`). */
  readonly prefix: string;
  readonly enrollment: EnrollmentService;
  readonly limiter: FailureLimiter;
  readonly helpdesk: string;
  /** Where an INTERNAL error is logged (the app's logger, as fastify's error handler logs it). */
  readonly logError: (err: unknown) => void;
  /** How long a connection may wait for its first bytes before Node takes it over (default 10 s). */
  readonly firstBytesMs?: number;
  /**
   * Told of every request answered here, once its answer is written (fastify logs the requests it
   * answers at level info; app.ts passes this only then, so the wire path's requests are in the
   * same log).
   */
  readonly onAnswered?: (a: WireAnswered) => void;
}

type Listener = (socket: TLSSocket) => void;

/**
 * Puts the wire path in front of `server`'s HTTP handling (see the file comment). Node's own
 * handling stays as it is for every connection handed to it.
 */
export function answerEnrollOnTheWire(server: HttpsServer, o: EnrollWireOptions): { readonly taken: () => number } {
  let taken = 0;
  const line = Buffer.from(`POST ${o.prefix}/simpleenroll HTTP/1.1`, "latin1");
  const nodeListeners = server.listeners("secureConnection") as Listener[];
  server.removeAllListeners("secureConnection");
  let young = new Set<TLSSocket>();
  let old = new Set<TLSSocket>();
  const forget = (s: TLSSocket): void => {
    if (!young.delete(s)) old.delete(s);
  };
  function onError(this: TLSSocket): void {
    forget(this);
  }
  function onEnd(this: TLSSocket): void {
    forget(this);
    if (!this.writableEnded) this.end();
  }
  const handOver = (socket: TLSSocket, unread: Buffer | undefined): void => {
    forget(socket);
    socket.removeListener("data", onData);
    socket.removeListener("end", onEnd);
    socket.removeListener("error", onError);
    socket.pause();
    if (unread) socket.unshift(unread);
    for (const l of nodeListeners) l.call(server, socket);
    socket.resume();
  };
  const requireHost = (): boolean => (server as { requireHostHeader?: boolean }).requireHostHeader !== false;
  function onData(this: TLSSocket, chunk: Buffer): void {
    onRequestBytes(this, chunk);
  }
  const onRequestBytes = (socket: TLSSocket, chunk: Buffer): void => {
    forget(socket);
    const req = server.maxRequestsPerSocket ? undefined : readEnrollPost(chunk, line, requireHost());
    let credentials: { userId: string; passcode: string } | undefined;
    let csrDer: Buffer | undefined;
    try {
      credentials = req ? basicAuth(req.authorization) : undefined;
      csrDer = req ? decodeBase64Strict(req.body) : undefined;
    } catch {
      credentials = undefined;
    }
    if (!req || !credentials || !csrDer) {
      handOver(socket, chunk);
      return;
    }
    taken++;
    // Taken: anything more on this connection is not read (Node would not answer it either after Connection: close).
    socket.removeListener("data", onData);
    socket.removeListener("end", onEnd);
    socket.pause();
    const remote = socket.remoteAddress ?? "";
    const { userId, passcode } = credentials;
    const der = csrDer;
    const started = o.onAnswered ? performance.now() : 0;
    const remotePort = socket.remotePort;
    let statusCode = 200;
    void o.limiter.guard(remote, passcodeRejected, () => o.enrollment.simpleEnroll({ userId, passcode, csrDer: der, remote }))
      .then((cert) => wireCertificate(cert.der), (e: unknown) => {
        const err = isShomeiError(e) ? e : new ShomeiError("INTERNAL", {}, { cause: e });
        if (err.code === "INTERNAL") o.logError(err.cause ?? err);
        statusCode = err.status;
        return wireError(err, req.acceptLanguage, o.helpdesk);
      })
      .then((bytes) => {
        if (!socket.destroyed) {
          socket.write(bytes);
          socket.destroySoon();
        }
        // Logged also when the client is gone by now: the enrollment happened all the same.
        o.onAnswered?.({
          method: "POST", url: `${o.prefix}/simpleenroll`, remoteAddress: remote, remotePort,
          statusCode, responseTimeMs: performance.now() - started,
        });
      });
  };
  server.on("secureConnection", (socket: TLSSocket) => {
    young.add(socket);
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("end", onEnd);
  });
  // A connection that said nothing for a while goes to Node, which applies its own timeouts (headersTimeout).
  const period = o.firstBytesMs ?? 10_000;
  let sweeper: NodeJS.Timeout | undefined;
  server.on("listening", () => {
    clearInterval(sweeper);
    sweeper = setInterval(() => {
      const older = old;
      old = young;
      young = new Set();
      for (const s of older) if (!s.destroyed) handOver(s, undefined);
    }, period / 2).unref();
  });
  server.on("close", () => clearInterval(sweeper));
  // Closing the listener closes the connections still waiting here too (Node knows only its own).
  const closeIdle = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = (): void => {
    closeIdle();
    for (const set of [young, old]) {
      for (const s of set) s.destroy();
      set.clear();
    }
  };
  return { taken: () => taken };
}
