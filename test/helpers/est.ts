/** Talking EST to a real server from tests: HTTPS on loopback, trusting the test CA's root. */
import { request } from "node:https";
import { isIP } from "node:net";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { readFileSync } from "node:fs";
import { generateKeyPair, keyObjectSigner, type KeyKind, type KeyPair } from "../../src/pki/keys.js";
import { buildCsr } from "../../src/pki/csr.js";

export interface HttpResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export interface EstRequest {
  readonly method?: "GET" | "POST";
  readonly auth?: { user: string; pass: string };
  readonly body?: string | Buffer;
  readonly headers?: Record<string, string>;
  /** A client certificate and key (PEM) for the TLS handshake (simplereenroll on the portal's listener). */
  readonly client?: { readonly cert: string; readonly key: string };
  /** Called with the connection once its TLS handshake is done (e.g. to see which worker took it). */
  readonly onConnect?: (socket: TLSSocket) => void;
  /** Chooses the connection the request goes on (e.g. one a given worker took) instead of a new one. */
  readonly connectVia?: ConnectVia;
}

/** Gives the connection a request goes on; `open` makes a new one with the request's TLS settings. */
export type ConnectVia = (open: () => TLSSocket) => Promise<TLSSocket>;

/** The connection `via` chooses for a request to `url` with these TLS settings (handshake done). */
export function connectFor(url: URL, tls: ConnectionOptions, via: ConnectVia): Promise<TLSSocket> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return via(() => tlsConnect({ host, port: Number(url.port), ...(isIP(host) ? {} : { servername: host }), ALPNProtocols: ["http/1.1"], ...tls }));
}

/** One request on a new TLS connection. */
export async function estRequest(estUrl: string, path: string, rootPem: string, r: EstRequest = {}): Promise<HttpResult> {
  const url = new URL(`${estUrl}/${path}`);
  const headers: Record<string, string> = { ...r.headers };
  if (r.auth) headers.authorization = `Basic ${Buffer.from(`${r.auth.user}:${r.auth.pass}`).toString("base64")}`;
  if (r.body !== undefined && !headers["content-type"]) headers["content-type"] = "application/pkcs10";
  const tls = { ca: readFileSync(rootPem), ...r.client };
  const socket = r.connectVia ? await connectFor(url, tls, r.connectVia) : undefined;
  if (socket) r.onConnect?.(socket);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: r.method ?? (r.body === undefined ? "GET" : "POST"), headers, ...tls, ...(socket ? { createConnection: () => socket } : { agent: false }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    const hook = r.onConnect;
    if (hook && !socket) req.once("socket", (s) => (s as TLSSocket).once("secureConnect", () => hook(s as TLSSocket)));
    req.end(r.body);
  });
}

export interface TestCsr {
  readonly key: KeyPair;
  readonly der: Buffer;
  readonly base64: string;
}

/** A fresh key and CSR made with Shomei's own PKI code (interop tests use openssl instead). */
export async function makeCsr(commonName = "a0000001", kind: KeyKind = "ec-p256"): Promise<TestCsr> {
  const key = await generateKeyPair(kind);
  const der = await buildCsr({ publicKey: key.publicKey, signer: keyObjectSigner(key.privateKey), commonName });
  return { key, der, base64: der.toString("base64") };
}

/** simpleenroll with Basic auth. */
export function enroll(estUrl: string, rootPem: string, user: string, pass: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<HttpResult> {
  return estRequest(estUrl, "simpleenroll", rootPem, { auth: { user, pass }, body, headers });
}
