/**
 * One HTTPS request, either unverified (the RFC 7030 4.1.1 bootstrap: nothing secret is sent)
 * or verified against exactly one confirmed root (the system trust store is not used, so a
 * TLS-intercepting proxy is refused). Goes through the company proxy when one is set.
 */
import { request, type RequestOptions } from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import { isIP, type Socket } from "node:net";
import { ShomeiError } from "../i18n/errors.js";
import { bareHost, openTunnel, proxyFor } from "./proxy.js";

/** Who the server must prove to be: nobody (bootstrap), or a holder of a certificate under this root. */
export type ServerTrust = { readonly kind: "unverified" } | { readonly kind: "root"; readonly rootPem: string };

export interface HttpRequest {
  readonly url: URL;
  readonly method: "GET" | "POST";
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  readonly trust: ServerTrust;
  /** A client certificate (PEM) and its key (PEM) to present, for mutual TLS. */
  readonly clientCert?: { readonly cert: string; readonly key: string };
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface HttpOptions {
  /** Where HTTPS_PROXY and NO_PROXY are read (process.env by default). */
  readonly env?: NodeJS.ProcessEnv;
  /** Idle timeout per connection, in milliseconds (30 s by default). */
  readonly timeoutMs?: number;
  /** Largest response body accepted (1 MiB by default). */
  readonly maxBytes?: number;
}

/** OpenSSL's and Node's codes for "the server's certificate is not trusted / not for this host". */
const TRUST_ERROR = /^(ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_[A-Z_]+|CERT_[A-Z_]+|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_EXCEEDED)$/;

function mapError(e: unknown, url: URL, trust: ServerTrust): ShomeiError {
  if (e instanceof ShomeiError) return e;
  const err = e as NodeJS.ErrnoException;
  const code = typeof err.code === "string" ? err.code : "";
  if (trust.kind === "root" && TRUST_ERROR.test(code)) {
    return new ShomeiError("SERVER_TLS_UNTRUSTED", { reason: `${code}: ${err.message}` }, { cause: e });
  }
  return new ShomeiError("SERVER_UNREACHABLE", { server: url.origin, reason: code ? `${code} (${err.message})` : err.message }, { cause: e });
}

/** Sends one request and reads the whole answer (any status). Connection problems become ShomeiErrors. */
export async function httpsRequest(req: HttpRequest, opts: HttpOptions = {}): Promise<HttpResponse> {
  const { url, trust } = req;
  if (url.protocol !== "https:") throw new ShomeiError("FIELD_INVALID", { field: "--server", reason: "the URL must begin with https://" });
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxBytes = opts.maxBytes ?? 1 << 20;
  const host = bareHost(url.hostname);
  const port = Number(url.port || 443);
  const tls: ConnectionOptions = trust.kind === "unverified"
    ? { rejectUnauthorized: false, checkServerIdentity: () => undefined }
    : { rejectUnauthorized: true, ca: trust.rootPem, ...(req.clientCert ? { cert: req.clientCert.cert, key: req.clientCert.key } : {}) };

  const proxy = proxyFor(url, opts.env);
  let createConnection: RequestOptions["createConnection"];
  let tunnel: Socket | undefined;
  if (proxy) {
    const raw = await openTunnel(proxy, host, port, timeoutMs);
    tunnel = raw;
    createConnection = () => tlsConnect({ ...tls, socket: raw, host, ...(isIP(host) ? {} : { servername: host }) });
  }

  try {
    return await exchange(req, { host, port, tls, timeoutMs, maxBytes, createConnection });
  } finally {
    tunnel?.destroy(); // the TLS socket on top does not always take the tunnel down with it
  }
}

interface Connection {
  readonly host: string;
  readonly port: number;
  readonly tls: ConnectionOptions;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly createConnection: RequestOptions["createConnection"];
}

function exchange(req: HttpRequest, c: Connection): Promise<HttpResponse> {
  const { url, trust } = req;
  const { host, port, tls, timeoutMs, maxBytes, createConnection } = c;
  return new Promise<HttpResponse>((resolve, reject) => {
    const fail = (e: unknown): void => reject(mapError(e, url, trust));
    const r = request({
      host, port, method: req.method, path: `${url.pathname}${url.search}`,
      headers: { ...req.headers, ...(req.body ? { "content-length": String(req.body.length) } : {}) },
      agent: false, timeout: timeoutMs, ...tls, ...(createConnection ? { createConnection } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) {
          res.destroy();
          reject(new ShomeiError("SERVER_BAD_RESPONSE", { reason: `the answer is larger than ${maxBytes} bytes` }));
          return;
        }
        chunks.push(c);
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", fail);
    });
    r.on("timeout", () => r.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: "ETIMEDOUT" })));
    r.on("error", fail);
    r.end(req.body);
  });
}
