/**
 * A stand-in EST server (RFC 7030 cacerts + simpleenroll) over real HTTPS on 127.0.0.1, for
 * the client's tests. It checks passcodes like Shomei's server (without case, hyphens or
 * spaces) and answers errors as application/problem+json with a catalog code.
 *
 * Use it only for what the real service cannot be made to do: answer with a certificate for
 * another key, user or CA, an expired one, extra certificates, garbage or a non-PKCS#7 body,
 * or list the root before the issuing CA. Everything else runs against the real service
 * (test/helpers/client_real_server.ts), which also records what the client sent.
 */
import { createPublicKey } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { parseCsr } from "../../src/pki/csr.js";
import { certsOnly } from "../../src/pki/pkcs7.js";
import { DAY, issueClientCert, type TestCa } from "./client_pki.js";

/** What a test can make the server answer instead of the normal response. */
export interface Override {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string | Buffer;
}

export interface TestEstServer {
  readonly url: string;
  /** user ID -> passcode (as mailed, e.g. ABCD-EFGH). */
  readonly passcodes: Map<string, string>;
  /** Certificates issued, by user ID (a new one for every accepted request). */
  readonly issued: Map<string, Buffer[]>;
  /** Called for /simpleenroll after authentication; a returned value is sent instead of the certificate. */
  override: ((csrDer: Buffer, issued: Buffer) => Override | undefined | Promise<Override | undefined>) | undefined;
  /** Order of /cacerts: issuing first (default) or root first. */
  rootFirst: boolean;
  close(): Promise<void>;
}

function norm(passcode: string): string {
  return passcode.replace(/[\s-]/g, "").toUpperCase();
}

function problem(res: ServerResponse, status: number, code: string, title: string): void {
  res.writeHead(status, { "content-type": "application/problem+json" });
  res.end(JSON.stringify({ type: "about:blank", title, status, detail: title, code, remedy: "" }));
}

function pkcs7(res: ServerResponse, certs: Buffer[]): void {
  res.writeHead(200, { "content-type": "application/pkcs7-mime; smime-type=certs-only", "content-transfer-encoding": "base64" });
  res.end(certsOnly(certs).toString("base64").replace(/.{64}/g, "$&\r\n") + "\r\n");
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Starts the server on 127.0.0.1, port chosen by the system. */
export async function startTestEstServer(ca: TestCa): Promise<TestEstServer> {
  const state = {
    passcodes: new Map<string, string>(),
    issued: new Map<string, Buffer[]>(),
    override: undefined as TestEstServer["override"],
    rootFirst: false,
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (req.method === "GET" && path === "/.well-known/est/cacerts") {
      pkcs7(res, state.rootFirst ? [ca.rootDer, ca.issuingDer] : [ca.issuingDer, ca.rootDer]);
      return;
    }
    if (req.method !== "POST" || path !== "/.well-known/est/simpleenroll") {
      problem(res, 404, "NOT_FOUND_TEST", "not found");
      return;
    }
    const auth = /^Basic (.+)$/.exec(req.headers.authorization ?? "");
    if (!auth?.[1]) return problem(res, 401, "AUTH_REQUIRED", "no credentials");
    const decoded = Buffer.from(auth[1], "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    const userId = decoded.slice(0, colon);
    const passcode = decoded.slice(colon + 1);
    const expected = state.passcodes.get(userId);
    if (expected === undefined || norm(expected) !== norm(passcode)) return problem(res, 401, "PASSCODE_REJECTED", "rejected");
    if (!(req.headers["content-type"] ?? "").startsWith("application/pkcs10")) return problem(res, 415, "UNSUPPORTED_MEDIA_TYPE", "type");
    const csrDer = Buffer.from(body.toString("latin1").replace(/\s+/g, ""), "base64");
    const csr = parseCsr(csrDer);
    const now = Date.now();
    const cert = await issueClientCert(ca, {
      publicKey: createPublicKey({ key: csr.spki, format: "der", type: "spki" }),
      commonName: userId, notBefore: new Date(now - 5 * 60_000), notAfter: new Date(now + 365 * DAY),
    });
    state.issued.set(userId, [...(state.issued.get(userId) ?? []), cert]);
    const o = await state.override?.(csrDer, cert);
    if (o) {
      res.writeHead(o.status, o.headers);
      res.end(o.body);
      return;
    }
    pkcs7(res, [cert]);
  }

  const server: Server = createServer({ key: ca.tlsKeyPem, cert: ca.tlsChainPem }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(e));
    });
  });
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    url: `https://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy(); // also those that never finished a TLS handshake
      server.close(() => resolve());
    }),
  });
}
