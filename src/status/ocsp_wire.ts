/**
 * OCSP by POST and GET answered on the connection itself, ahead of Node's HTTP parser. With a new
 * connection per request (how most OCSP clients ask) Node's `http` costs more than the rest of
 * the answer together: an HTTP parser, request and response objects, listeners and timers per
 * connection (measured here, 2 workers, `ab -c 8`: a bare `http` server answering fixed bytes
 * 0.085 ms server CPU per request, a bare `net` server reading the request off the socket and
 * writing the same bytes 0.055 ms, `openssl ocsp` 0.1 ms; docs/revocation-benchmarks.md).
 *
 * So the publication listener (OcspHttpServer) looks at the first bytes of each connection:
 * when they are exactly one complete `POST /ocsp` request of the common shape (readOcspPost:
 * a strict subset of what Node's parser reads the same way), or one `GET /ocsp/{base64}` as
 * Windows and RFC 5019 clients send it (readOcspGet), and the answer is a pre-signed one in
 * memory, it writes the answer with the headers fastify's route would have written (for a GET:
 * its caching headers, or 304 for a matching If-None-Match); otherwise it hands the connection,
 * with the bytes unread, to Node's HTTP server, which answers as it always did.
 * A connection that stays open (keep-alive) is read the same way for its next request; one that
 * sends nothing is handed to Node after a while, which then applies its own timeouts.
 */
import { Server, type IncomingMessage, type RequestListener, type ServerOptions, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { changesFraming, contentLengthOf, headerLine, httpDate, MAX_HEAD, MAX_HEADER_LINES, nameIs, readHeaderLine, type WireAnswered } from "../http/wire_head.js";
import { getRequestDer, OCSP_BODY_LIMIT, type GetCaching } from "./plugin.js";
import type { OcspReply } from "./ocsp_responder.js";

/** Node's HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER: the idle timer runs this much longer than advertised. */
const KEEP_ALIVE_BUFFER_MS = 1000;

/** A request the wire path may answer: its body, and whether the connection stays open after the answer. */
export interface WirePost {
  readonly body: Buffer;
  readonly keepAlive: boolean;
}

/** A GET the wire path may answer: the DER request, the URL as sent, its If-None-Match, and keep-alive as for a POST. */
export interface WireGet {
  readonly der: Buffer;
  readonly url: string;
  readonly ifNoneMatch: string | undefined;
  readonly keepAlive: boolean;
}

const LINE = Buffer.from("POST /ocsp HTTP/1.", "latin1");
const GET_LINE = Buffer.from("GET /ocsp/", "latin1");
const VERSION = Buffer.from(" HTTP/1.", "latin1");
const CT_VALUE = Buffer.from("application/ocsp-request", "latin1");

/** Whether d[start, end) is `value` (lowercase) in any case. */
const valueIs = nameIs;

/** What readHead() found in a request's header lines. */
interface Head {
  /** Where the body begins. */
  readonly bodyAt: number;
  readonly keepAlive: boolean;
  /** Content-Type lines, and whether every one was exactly application/ocsp-request. */
  readonly contentTypes: number;
  readonly contentTypeOk: boolean;
  /** Content-Length lines, and the value of the last (-1 when none). */
  readonly lengths: number;
  readonly contentLength: number;
  /** If-None-Match lines, and the value of the last. */
  readonly ifNoneMatches: number;
  readonly ifNoneMatch: string | undefined;
}

/**
 * Reads the header lines from d[p] (after the request line of HTTP/1.`minor`) as Node reads
 * them, or gives undefined for anything that changes how Node reads or answers the request:
 * Transfer-Encoding, Expect, Upgrade, a Connection other than close/keep-alive, a repeated Host
 * or Connection, an HTTP/1.1 request without Host when the server requires one, a Content-Length
 * that is not plain digits, an If-None-Match with whitespace after it, a byte Node might read
 * leniently. Each caller checks the rest.
 */
function readHead(d: Buffer, p: number, http11: boolean, requireHost: boolean): Head | undefined {
  const limit = Math.min(d.length, MAX_HEAD);
  let contentTypes = 0;
  let contentTypeOk = true;
  let contentLength = -1;
  let lengths = 0;
  let hosts = 0;
  let connection = 0;
  let close = false;
  let keepAlive = false;
  let ifNoneMatches = 0;
  let ifNoneMatch: string | undefined;
  const at = headerLine();
  for (let lines = 0; ; lines++) {
    if (lines > MAX_HEADER_LINES) return undefined;
    p = readHeaderLine(d, p, limit, at);
    if (p < 0) return undefined;
    if (at.end) break;
    const { nameStart, nameEnd, valueStart, valueEnd } = at;
    // Whitespace after a value: Node's parser reads some headers differently with it (a
    // "keep-alive\t" is not keep-alive to it); such values are compared as they are, and fail.
    if (changesFraming(d, nameStart, nameEnd)) return undefined;
    switch (nameEnd - nameStart) {
      case 4:
        if (nameIs(d, nameStart, nameEnd, "host")) hosts++;
        break;
      case 10:
        if (nameIs(d, nameStart, nameEnd, "connection")) {
          connection++;
          if (valueIs(d, valueStart, valueEnd, "close")) close = true;
          else if (valueIs(d, valueStart, valueEnd, "keep-alive")) keepAlive = true;
          else return undefined;
        }
        break;
      case 12:
        if (nameIs(d, nameStart, nameEnd, "content-type")) {
          contentTypes++;
          if (!d.subarray(valueStart, valueEnd).equals(CT_VALUE)) contentTypeOk = false;
        }
        break;
      case 13:
        if (nameIs(d, nameStart, nameEnd, "if-none-match")) {
          ifNoneMatches++;
          // Node drops the whitespace after a value; this reader does not, so it leaves such a one to Node.
          const last = d[valueEnd - 1];
          if (last === 0x20 || last === 0x09) return undefined;
          ifNoneMatch = d.toString("latin1", valueStart, valueEnd);
        }
        break;
      case 14:
        if (nameIs(d, nameStart, nameEnd, "content-length")) {
          lengths++;
          contentLength = contentLengthOf(d, valueStart, valueEnd);
          if (contentLength < 0) return undefined;
        }
        break;
      default:
        break;
    }
  }
  if (connection > 1 || hosts > 1 || (http11 && requireHost && hosts === 0)) return undefined;
  return { bodyAt: p, keepAlive: http11 ? !close : keepAlive && !close, contentTypes, contentTypeOk, lengths, contentLength, ifNoneMatches, ifNoneMatch };
}

/**
 * Reads `d` as exactly one complete HTTP/1.0 or 1.1 request `POST /ocsp` with
 * `Content-Type: application/ocsp-request` and a Content-Length body, in the plain shape OCSP
 * clients send. Anything else — other headers that change how Node reads or answers the request
 * (readHead()), a repeated Content-Type or Content-Length, more or fewer bytes than the one
 * request — gives undefined, and Node reads the request instead. For what it accepts it reads
 * what Node reads: the same body and the same keep-alive decision (ocsp_wire.test.ts checks on mutations).
 */
export function readOcspPost(d: Buffer, requireHost = true): WirePost | undefined {
  const n = LINE.length;
  if (d.length < n + 4 || d.length > MAX_HEAD + OCSP_BODY_LIMIT) return undefined;
  for (let i = 0; i < n; i++) if (d[i] !== LINE[i]) return undefined;
  const minor = d[n];
  if ((minor !== 0x30 && minor !== 0x31) || d[n + 1] !== 0x0d || d[n + 2] !== 0x0a) return undefined;
  const h = readHead(d, n + 3, minor === 0x31, requireHost);
  if (!h || h.contentTypes !== 1 || !h.contentTypeOk || h.lengths !== 1) return undefined;
  if (h.contentLength < 1 || h.contentLength > OCSP_BODY_LIMIT || d.length - h.bodyAt !== h.contentLength) return undefined;
  return { body: d.subarray(h.bodyAt), keepAlive: h.keepAlive };
}

/** The base64 characters a GET's path may hold as they are. */
const B64_CHAR = new Uint8Array(256);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") B64_CHAR[c.charCodeAt(0)] = 1;

/** The character of a %XX escape the wire path reads (%2B, %2F, %3D in either case), or 0. */
function escaped(d: Buffer, i: number): number {
  const a = d[i + 1];
  const b = (d[i + 2] ?? 0) | 0x20;
  if (a === 0x32) return b === 0x62 ? 0x2b : b === 0x66 ? 0x2f : 0;
  if (a === 0x33) return b === 0x64 ? 0x3d : 0;
  return 0;
}

/**
 * Reads `d` as exactly one complete HTTP/1.0 or 1.1 request `GET /ocsp/{base64}` (RFC 6960 A.1,
 * RFC 5019), in the shape Windows, browsers and RFC 5019 clients send: the base64 as it is or
 * with +, / and = escaped (%2B, %2F, %3D), no query, no body. Anything else — another escape,
 * a query, a Content-Length or Content-Type, a repeated If-None-Match, base64 the route would
 * refuse, what readHead() refuses — gives undefined, and Node and fastify read the request
 * instead. For what it accepts, the DER is what the route decodes (ocsp_wire.test.ts compares the
 * answers byte for byte with fastify's).
 */
export function readOcspGet(d: Buffer, requireHost = true): WireGet | undefined {
  const n = GET_LINE.length;
  if (d.length < n + 12 || d.length > MAX_HEAD) return undefined;
  for (let i = 0; i < n; i++) if (d[i] !== GET_LINE[i]) return undefined;
  const b64 = Buffer.allocUnsafe(d.length);
  let len = 0;
  let p = n;
  for (; p < d.length; p++) {
    const c = d[p] ?? 0;
    if (B64_CHAR[c] === 1) b64[len++] = c;
    else if (c === 0x25) {
      const e = escaped(d, p);
      if (!e) return undefined;
      b64[len++] = e;
      p += 2;
    } else break;
  }
  for (let i = 0; i < VERSION.length; i++) if (d[p + i] !== VERSION[i]) return undefined;
  const m = p + VERSION.length;
  const minor = d[m];
  if ((minor !== 0x30 && minor !== 0x31) || d[m + 1] !== 0x0d || d[m + 2] !== 0x0a) return undefined;
  const url = d.toString("latin1", GET_LINE.length - "/ocsp/".length, p);
  const h = readHead(d, m + 3, minor === 0x31, requireHost);
  if (!h || h.contentTypes !== 0 || h.lengths !== 0 || h.ifNoneMatches > 1 || h.bodyAt !== d.length) return undefined;
  const der = getRequestDer(b64.toString("latin1", 0, len));
  return der ? { der, url, ifNoneMatch: h.ifNoneMatch, keepAlive: h.keepAlive } : undefined;
}

/** The Connection (and Keep-Alive) lines Node writes after an answer to a request that keeps the connection open or not. */
function connectionLines(keepAlive: boolean, keepAliveMs: number): string {
  return keepAlive ? `Connection: keep-alive\r\n${keepAliveMs > 0 ? `Keep-Alive: timeout=${Math.floor(keepAliveMs / 1000)}\r\n` : ""}` : "Connection: close\r\n";
}

/** `head`, then `body`, in one buffer. */
function joined(head: string, body: Buffer | undefined): Buffer {
  const out = Buffer.allocUnsafe(head.length + (body?.length ?? 0));
  out.write(head, 0, "latin1");
  body?.copy(out, head.length);
  return out;
}

/**
 * The bytes Node's HTTP server writes for `res.writeHead(200, {content-type, cache-control:
 * no-store, content-length}); res.end(body)` (ocspPostFastPath in plugin.ts; fastify's POST route
 * writes the same), for a request that keeps the connection open (Keep-Alive naming the server's
 * keepAliveTimeout, none when 0) or not.
 */
export function wireAnswer(body: Buffer, keepAlive: boolean, keepAliveMs: number): Buffer {
  return joined(`HTTP/1.1 200 OK\r\ncontent-type: application/ocsp-response\r\ncache-control: no-store\r\ncontent-length: ${body.length}\r\nDate: ${httpDate()}\r\n${connectionLines(keepAlive, keepAliveMs)}\r\n`, body);
}

/**
 * The bytes fastify and Node write for the GET route's cacheable answer (statusPlugin's send()):
 * 200 with the body, or 304 without one when the request's If-None-Match named its ETag.
 */
export function wireGetAnswer(body: Buffer, c: GetCaching, notModified: boolean, keepAlive: boolean, keepAliveMs: number): Buffer {
  const head = `HTTP/1.1 ${notModified ? "304 Not Modified" : "200 OK"}\r\ncontent-type: application/ocsp-response\r\ncache-control: ${c.cacheControl}\r\n`
    + `etag: ${c.etag}\r\nlast-modified: ${c.lastModified}\r\nexpires: ${c.expires}\r\n${notModified ? "" : `content-length: ${body.length}\r\n`}`
    + `Date: ${httpDate()}\r\n${connectionLines(keepAlive, keepAliveMs)}\r\n`;
  return joined(head, notModified ? undefined : body);
}

export interface OcspHttpServerOptions {
  /** The pre-signed answer to a DER OCSPRequest when it is in memory (anything else is left to Node). */
  readonly answer: (requestDer: Buffer) => OcspReply | undefined;
  /**
   * The caching headers of a GET answer (getCaching() at the route's clock and max-age). Without
   * it GETs are left to Node; with it a GET whose answer is pre-signed, in memory and cacheable is
   * answered here.
   */
  readonly caching?: (c: NonNullable<OcspReply["cacheable"]>) => GetCaching;
  /** Told of every request answered here, once written (for the log at level info, as fastify logs its own). */
  readonly onAnswered?: (a: WireAnswered) => void;
  /** How long a connection may wait for its first bytes before Node takes it over (default 10 s; Node then applies headersTimeout). */
  readonly firstBytesMs?: number;
  /** Node's server options (timeouts and the like). */
  readonly http?: ServerOptions;
}

function destroyThis(this: Socket): void {
  this.destroy();
}

/**
 * Node's HTTP server with OCSP POSTs answered on the connection (see the file comment). Node's
 * own connection handling stays as it is for everything handed to it: CRLs, GET OCSP, requests
 * that arrive in pieces, anything readOcspPost() does not take, answers not in memory.
 */
export class OcspHttpServer extends Server {
  /** Node's own 'connection' listeners: what a handed-over connection goes to. */
  private readonly nodeListeners: ((socket: Socket) => void)[];
  private readonly answerOf: OcspHttpServerOptions["answer"];
  private readonly caching: OcspHttpServerOptions["caching"];
  private readonly onAnswered: OcspHttpServerOptions["onAnswered"];
  /** Connections waiting for their first bytes, by age: younger, older (handed to Node at the next sweep). */
  private young = new Set<Socket>();
  private old = new Set<Socket>();
  /** Connections kept open after an answer, waiting for their next request (their own idle timer runs). */
  private readonly kept = new Set<Socket>();
  private sweeper: NodeJS.Timeout | undefined;
  private answered = 0;
  private readonly wire: {
    readonly onData: (this: Socket, chunk: Buffer) => void;
    readonly onEnd: (this: Socket) => void;
    readonly onError: (this: Socket) => void;
    readonly onIdle: (this: Socket) => void;
  };

  constructor(handler: RequestListener<typeof IncomingMessage, typeof ServerResponse>, o: OcspHttpServerOptions) {
    super(o.http ?? {}, handler);
    this.answerOf = o.answer;
    this.caching = o.caching;
    this.onAnswered = o.onAnswered;
    this.nodeListeners = this.listeners("connection") as ((socket: Socket) => void)[];
    this.removeAllListeners("connection");
    this.wire = OcspHttpServer.listenersFor(this);
    const { onData, onEnd, onError } = this.wire;
    this.on("connection", (socket: Socket) => {
      this.young.add(socket);
      socket.on("data", onData);
      socket.on("error", onError);
      socket.on("end", onEnd);
    });
    const period = o.firstBytesMs ?? 10_000;
    this.on("listening", () => {
      clearInterval(this.sweeper);
      this.sweeper = setInterval(() => this.sweep(), period / 2).unref();
    });
    this.on("close", () => clearInterval(this.sweeper));
  }

  /** The listeners every connection gets (one set per server: `this` is the connection). */
  private static listenersFor(server: OcspHttpServer): OcspHttpServer["wire"] {
    return {
      onData(chunk) {
        server.onRequestBytes(this, chunk);
      },
      // The client closed its side before asking (or while kept open): as Node does, end ours too.
      onEnd() {
        server.forget(this);
        if (!this.writableEnded) this.end();
      },
      // The socket is destroyed by now (ECONNRESET and the like); nothing to answer.
      onError() {
        server.forget(this);
      },
      // A kept connection idle for longer than keepAliveTimeout: closed, as Node closes it.
      onIdle() {
        server.forget(this);
        this.destroy();
      },
    };
  }

  /** Requests answered here, not by Node's handler (tests compare both). */
  get answeredHere(): number {
    return this.answered;
  }

  /** A connection that said nothing for a while goes to Node, which applies its own timeouts (headersTimeout). */
  private sweep(): void {
    const older = this.old;
    this.old = this.young;
    this.young = new Set();
    for (const s of older) if (!s.destroyed) this.handOver(s, undefined);
    for (const s of this.kept) if (s.destroyed) this.kept.delete(s);
  }

  private forget(socket: Socket): void {
    if (!this.young.delete(socket) && !this.old.delete(socket)) this.kept.delete(socket);
  }

  /** Closes the connections waiting for a request: Node's own, and those waiting here. */
  override closeIdleConnections(): void {
    super.closeIdleConnections();
    for (const set of [this.young, this.old, this.kept]) {
      for (const s of set) s.destroy();
      set.clear();
    }
  }

  private onRequestBytes(socket: Socket, chunk: Buffer): void {
    this.forget(socket);
    // The idle timer of a kept connection stops at its next request, as in Node.
    if (socket.timeout) socket.setTimeout(0, this.wire.onIdle);
    const started = this.onAnswered ? performance.now() : 0;
    const bytes = this.maxRequestsPerSocket ? undefined : this.answerOnTheWire(chunk);
    if (!bytes) {
      this.handOver(socket, chunk);
      return;
    }
    this.answered++;
    const { answer, keepAlive } = bytes;
    // Read before the socket is closed (and only for the log: each is a getpeername() call).
    const from = this.onAnswered ? { remoteAddress: socket.remoteAddress ?? "", remotePort: socket.remotePort } : undefined;
    if (!keepAlive) {
      // As Node ends a connection after its last answer (socket.destroySoon()).
      socket.removeListener("data", this.wire.onData);
      socket.write(answer);
      // Written to the kernel at once (as a small answer is): closing now sends it and the FIN
      // as end() would, without a shutdown() and a turn of the event loop first.
      if (socket.writableLength === 0) socket.destroy();
      else {
        socket.end();
        socket.once("finish", destroyThis);
      }
    } else {
      socket.write(answer);
      if (this.keepAliveTimeout) socket.setTimeout(this.keepAliveTimeout + KEEP_ALIVE_BUFFER_MS, this.wire.onIdle);
      this.kept.add(socket);
    }
    if (from) this.onAnswered?.({ ...bytes.said, ...from, responseTimeMs: performance.now() - started });
  }

  /** The answer's bytes when `chunk` is a request answered here (readOcspPost, readOcspGet), else undefined. */
  private answerOnTheWire(chunk: Buffer): { answer: Buffer; keepAlive: boolean; said: Pick<WireAnswered, "method" | "url" | "statusCode"> } | undefined {
    const requireHost = (this as { requireHostHeader?: boolean }).requireHostHeader !== false;
    const post = readOcspPost(chunk, requireHost);
    if (post) {
      const r = this.answerOf(post.body);
      if (!r) return undefined;
      return { answer: wireAnswer(r.body, post.keepAlive, this.keepAliveTimeout), keepAlive: post.keepAlive, said: { method: "POST", url: "/ocsp", statusCode: 200 } };
    }
    const caching = this.caching;
    const get = caching ? readOcspGet(chunk, requireHost) : undefined;
    if (!caching || !get) return undefined;
    const r = this.answerOf(get.der);
    if (!r?.cacheable) return undefined;
    const c = caching(r.cacheable);
    const notModified = get.ifNoneMatch === c.etag;
    return {
      answer: wireGetAnswer(r.body, c, notModified, get.keepAlive, this.keepAliveTimeout), keepAlive: get.keepAlive,
      said: { method: "GET", url: get.url, statusCode: notModified ? 304 : 200 },
    };
  }

  /** Gives the connection to Node's HTTP server, with `unread` (bytes already taken off it) to be read first. */
  private handOver(socket: Socket, unread: Buffer | undefined): void {
    this.forget(socket);
    if (socket.timeout) socket.setTimeout(0, this.wire.onIdle);
    socket.removeListener("data", this.wire.onData);
    socket.removeListener("end", this.wire.onEnd);
    socket.removeListener("error", this.wire.onError);
    socket.pause();
    if (unread) socket.unshift(unread);
    for (const l of this.nodeListeners) l.call(this, socket);
    socket.resume();
  }
}
