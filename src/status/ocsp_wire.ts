/**
 * OCSP by POST answered on the connection itself, ahead of Node's HTTP parser. With a new
 * connection per request (how most OCSP clients ask) Node's `http` costs more than the rest of
 * the answer together: an HTTP parser, request and response objects, listeners and timers per
 * connection (measured here, 2 workers, `ab -c 8`: a bare `http` server answering fixed bytes
 * 0.085 ms server CPU per request, a bare `net` server reading the request off the socket and
 * writing the same bytes 0.055 ms, `openssl ocsp` 0.1 ms; docs/revocation-benchmarks.md).
 *
 * So the publication listener (OcspHttpServer) looks at the first bytes of each connection:
 * when they are exactly one complete `POST /ocsp` request of the common shape (readOcspPost:
 * a strict subset of what Node's parser reads the same way) and the answer is a pre-signed one
 * in memory, it writes the answer with the headers Node would have written; otherwise it hands
 * the connection, with the bytes unread, to Node's HTTP server, which answers as it always did.
 * A connection that stays open (keep-alive) is read the same way for its next request; one that
 * sends nothing is handed to Node after a while, which then applies its own timeouts.
 */
import { Server, type IncomingMessage, type RequestListener, type ServerOptions, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { changesFraming, contentLengthOf, headerLine, httpDate, MAX_HEAD, MAX_HEADER_LINES, nameIs, readHeaderLine } from "../http/wire_head.js";
import { OCSP_BODY_LIMIT } from "./plugin.js";

/** Node's HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER: the idle timer runs this much longer than advertised. */
const KEEP_ALIVE_BUFFER_MS = 1000;

/** A request the wire path may answer: its body, and whether the connection stays open after the answer. */
export interface WirePost {
  readonly body: Buffer;
  readonly keepAlive: boolean;
}

const LINE = Buffer.from("POST /ocsp HTTP/1.", "latin1");
const CT_VALUE = Buffer.from("application/ocsp-request", "latin1");

/** Whether d[start, end) is `value` (lowercase) in any case. */
const valueIs = nameIs;

/**
 * Reads `d` as exactly one complete HTTP/1.0 or 1.1 request `POST /ocsp` with
 * `Content-Type: application/ocsp-request` and a Content-Length body, in the plain shape OCSP
 * clients send. Anything else — other headers that change how Node reads or answers the request
 * (Transfer-Encoding, Expect, Upgrade, a Connection other than close/keep-alive, a repeated
 * Content-Type, Content-Length or Host), a byte Node might read leniently, more or fewer bytes
 * than the one request, an HTTP/1.1 request without Host when the server requires it — gives
 * undefined, and Node reads the request instead. For what it accepts it reads what Node reads:
 * the same body and the same keep-alive decision (ocsp_wire.test.ts checks on mutations).
 */
export function readOcspPost(d: Buffer, requireHost = true): WirePost | undefined {
  const n = LINE.length;
  if (d.length < n + 4 || d.length > MAX_HEAD + OCSP_BODY_LIMIT) return undefined;
  for (let i = 0; i < n; i++) if (d[i] !== LINE[i]) return undefined;
  const minor = d[n];
  if ((minor !== 0x30 && minor !== 0x31) || d[n + 1] !== 0x0d || d[n + 2] !== 0x0a) return undefined;
  const http11 = minor === 0x31;
  const limit = Math.min(d.length, MAX_HEAD);
  let p = n + 3;
  let contentType = 0;
  let contentLength = -1;
  let lengths = 0;
  let hosts = 0;
  let connection = 0;
  let close = false;
  let keepAlive = false;
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
          contentType++;
          if (!d.subarray(valueStart, valueEnd).equals(CT_VALUE)) return undefined;
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
  if (contentType !== 1 || lengths !== 1 || connection > 1 || hosts > 1 || (http11 && requireHost && hosts === 0)) return undefined;
  if (contentLength < 1 || contentLength > OCSP_BODY_LIMIT || d.length - p !== contentLength) return undefined;
  return { body: d.subarray(p), keepAlive: http11 ? !close : keepAlive && !close };
}

/**
 * The bytes Node's HTTP server writes for `res.writeHead(200, {content-type, content-length,
 * cache-control: no-store}); res.end(body)` (ocspPostFastPath in plugin.ts), for a request that
 * keeps the connection open (Keep-Alive naming the server's keepAliveTimeout, none when 0) or not.
 */
export function wireAnswer(body: Buffer, keepAlive: boolean, keepAliveMs: number): Buffer {
  const connection = keepAlive ? `Connection: keep-alive\r\n${keepAliveMs > 0 ? `Keep-Alive: timeout=${Math.floor(keepAliveMs / 1000)}\r\n` : ""}` : "Connection: close\r\n";
  const head = `HTTP/1.1 200 OK\r\ncontent-type: application/ocsp-response\r\ncontent-length: ${body.length}\r\ncache-control: no-store\r\nDate: ${httpDate()}\r\n${connection}\r\n`;
  const out = Buffer.allocUnsafe(head.length + body.length);
  out.write(head, 0, "latin1");
  body.copy(out, head.length);
  return out;
}

export interface OcspHttpServerOptions {
  /** The pre-signed answer to a DER OCSPRequest when it is in memory (anything else is left to Node). */
  readonly answer: (requestDer: Buffer) => Buffer | undefined;
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
  /** Connections waiting for their first bytes, by age: younger, older (handed to Node at the next sweep). */
  private young = new Set<Socket>();
  private old = new Set<Socket>();
  /** Connections kept open after an answer, waiting for their next request (their own idle timer runs). */
  private readonly kept = new Set<Socket>();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly wire: {
    readonly onData: (this: Socket, chunk: Buffer) => void;
    readonly onEnd: (this: Socket) => void;
    readonly onError: (this: Socket) => void;
    readonly onIdle: (this: Socket) => void;
  };

  constructor(handler: RequestListener<typeof IncomingMessage, typeof ServerResponse>, o: OcspHttpServerOptions) {
    super(o.http ?? {}, handler);
    this.answerOf = o.answer;
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
    const post = this.maxRequestsPerSocket ? undefined : readOcspPost(chunk, (this as { requireHostHeader?: boolean }).requireHostHeader !== false);
    const body = post ? this.answerOf(post.body) : undefined;
    if (!post || !body) {
      this.handOver(socket, chunk);
      return;
    }
    const keepAliveMs = this.keepAliveTimeout;
    const bytes = wireAnswer(body, post.keepAlive, keepAliveMs);
    if (!post.keepAlive) {
      // As Node ends a connection after its last answer (socket.destroySoon()).
      socket.removeListener("data", this.wire.onData);
      socket.write(bytes);
      // Written to the kernel at once (as a small answer is): closing now sends it and the FIN
      // as end() would, without a shutdown() and a turn of the event loop first.
      if (socket.writableLength === 0) {
        socket.destroy();
        return;
      }
      socket.end();
      socket.once("finish", destroyThis);
      return;
    }
    socket.write(bytes);
    if (keepAliveMs) socket.setTimeout(keepAliveMs + KEEP_ALIVE_BUFFER_MS, this.wire.onIdle);
    this.kept.add(socket);
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
