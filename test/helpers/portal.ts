/**
 * The portal for tests: a real CA made by `shomei-ca init`, the service in-process (real TLS on
 * loopback, real SQLite, a movable clock), users registered and enrolled the way the product
 * does it (passcode and initial password read back from the .eml files), and an HTTPS client
 * that presents a client certificate and keeps cookies.
 */
import { Agent, request } from "node:https";
import type { TLSSocket } from "node:tls";
import type { FastifyInstance } from "fastify";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { toPem } from "../../src/pki/pem.js";
import { exportPrivateKeyPem } from "../../src/pki/keys.js";
import { initCa, readOutbox, tempDir, type TestCa } from "./ca.js";
import { shomei } from "./run.js";
import { connectFor, makeCsr, type ConnectVia } from "./est.js";
import { startInProcess, testClock, type Clock, type InProcess } from "./inprocess.js";

export interface PortalUser {
  readonly userId: string;
  readonly email: string;
  /** The initial password from the e-mail. */
  readonly password: string;
  readonly serial: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly certPath: string;
  readonly keyPath: string;
}

export interface PortalEnv {
  readonly ca: TestCa;
  readonly server: InProcess;
  readonly clock: Clock;
  readonly url: string;
  readonly rootPem: string;
  /** The publication listener's OCSP and CRL URLs (what certificates issued here carry). */
  readonly ocspUrl: string;
  readonly crlUrl: string;
  /** Registers (unless already registered, like the first operator) and enrolls a user. */
  enroll(userId: string, o?: { role?: "user" | "operator"; name?: string; register?: boolean }): Promise<PortalUser>;
  /** Passcode and initial password from the newest mails to this address. */
  secretsFor(email: string): Promise<{ passcode?: string; password?: string }>;
  /**
   * Registers a user and runs the real `shomei enroll` into a new store (or `store`, e.g.
   * `nss:DIR`); returns the store and the initial password.
   */
  enrollWithCli(userId: string, store?: string): Promise<{ store: string; password: string; email: string }>;
  stop(): Promise<void>;
}

export const OPERATOR_ID = "a0000000";
export const OPERATOR_EMAIL = "operator@example.jp";

export async function startPortalEnv(o: {
  clock?: Clock; portalConfig?: Record<string, number>; config?: Record<string, unknown>; initArgs?: readonly string[];
  /** Another database than the data folder's SQLite file (a PostgreSQL URL with its schema). */
  database?: string;
  /** Passed to startInProcess: a hook on the EST app before it listens (e.g. to keep it for inject()). */
  configure?: (app: FastifyInstance) => void;
} = {}): Promise<PortalEnv> {
  const ca = await initCa(["--operator", OPERATOR_ID, "--operator-email", OPERATOR_EMAIL, "--operator-name", "運用 太郎", ...(o.initArgs ?? [])]);
  if (o.portalConfig || o.config) {
    // The operator's config file, edited as an operator would (settings are read at start).
    const file = join(ca.dir, "shomei.json");
    const config = JSON.parse(readFileSync(file, "utf8")) as { portal: Record<string, number> };
    config.portal = { ...config.portal, ...o.portalConfig };
    writeFileSync(file, JSON.stringify({ ...config, ...o.config }, null, 2));
  }
  const clock = o.clock ?? testClock();
  const server = await startInProcess(ca.dir, clock, { ...(o.database ? { database: o.database } : {}), ...(o.configure ? { configure: o.configure } : {}) });
  const rootPem = readFileSync(ca.rootPem, "utf8");
  const secretsFor = async (email: string): Promise<{ passcode?: string; password?: string }> => {
    const out: { passcode?: string; password?: string } = {};
    for (const m of (await readOutbox(ca.dir)).filter((x) => x.to.includes(email))) {
      const pc = /^(?:パスコード|Passcode): (\S+)$/m.exec(m.body)?.[1];
      const pw = /^(?:初期パスワード|Initial password): (\S+)$/m.exec(m.body)?.[1];
      if (pc) out.passcode = pc;
      if (pw) out.password = pw;
    }
    return out;
  };
  return {
    ca, server, clock, url: server.portalUrl, rootPem, secretsFor, ocspUrl: server.ocspUrl, crlUrl: server.crlUrl,
    async enroll(userId, opts = {}) {
      const email = userId === OPERATOR_ID ? OPERATOR_EMAIL : `${userId}@example.jp`;
      if (opts.register !== false && userId !== OPERATOR_ID) {
        await server.services.registration.addUser({ userId, email, name: opts.name ?? `利用者 ${userId}`, role: opts.role ?? "user" }, "operator:test");
      }
      const s = await secretsFor(email);
      if (!s.passcode || !s.password) throw new Error(`no mails for ${email}`);
      const csr = await makeCsr(userId);
      const cert = await server.services.enrollment.simpleEnroll({ userId, passcode: s.passcode, csrDer: csr.der });
      const certPem = toPem(cert.der, "CERTIFICATE");
      const keyPem = exportPrivateKeyPem(csr.key.privateKey);
      const certPath = join(ca.dir, `${userId}-${cert.serial}.cert.pem`);
      const keyPath = join(ca.dir, `${userId}-${cert.serial}.key.pem`);
      writeFileSync(certPath, certPem);
      writeFileSync(keyPath, keyPem, { mode: 0o600 });
      return { userId, email, password: s.password, serial: cert.serial, certPem, keyPem, certPath, keyPath };
    },
    async enrollWithCli(userId, store = join(tempDir(), "store")) {
      const email = `${userId}@example.jp`;
      await server.services.registration.addUser({ userId, email, name: `利用者 ${userId}` }, "operator:test");
      const s = await secretsFor(email);
      if (!s.passcode || !s.password) throw new Error(`no mails for ${email}`);
      const r = await shomei(["enroll", "--server", server.url, "--user", userId, "--root-fingerprint", ca.rootFingerprint, "--passcode-stdin", "--store", store],
        { input: `${s.passcode}\n` });
      if (r.code !== 0) throw new Error(`shomei enroll failed: ${r.stderr}`);
      return { store, password: s.password, email };
    },
    async stop() {
      await server.stop();
      ca.cleanup();
    },
  };
}

export interface Response {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  readonly setCookies: readonly string[];
  /** True when the request went over a TLS connection an earlier request had opened (keepAlive). */
  readonly reusedConnection?: boolean;
}

/** An HTTPS client with (optionally) a client certificate and a cookie jar, like a browser tab. */
export class Browserish {
  readonly jar = new Map<string, string>();
  /** Called with each new connection once its TLS handshake is done (e.g. to see which worker took it). */
  onConnect?: (socket: TLSSocket) => void;
  /** Chooses the connection each request goes on (e.g. one a given worker took) instead of a new one. */
  connectVia?: ConnectVia;
  private agent: Agent | false = false;

  /** From now on, requests share one kept-alive TLS connection (a browser's), instead of one each. */
  keepAlive(): this {
    this.agent = new Agent({ keepAlive: true, maxSockets: 1 });
    return this;
  }

  /** Closes the kept-alive connection, if any. */
  close(): void {
    if (this.agent) this.agent.destroy();
  }

  constructor(readonly base: string, readonly rootPem: string, public identity?: { certPem: string; keyPem: string }) {}

  async request(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Response> {
    const h: Record<string, string> = { "accept-language": "en", ...headers };
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    if (cookie) h.cookie = cookie;
    const url = new URL(path, this.base);
    const tls = { ca: this.rootPem, ...(this.identity ? { cert: this.identity.certPem, key: this.identity.keyPem } : {}) };
    const socket = this.connectVia ? await connectFor(url, tls, this.connectVia) : undefined;
    if (socket) this.onConnect?.(socket);
    return new Promise((resolve, reject) => {
      const req = request(url, {
        method, headers: h, ...tls, ...(socket ? { createConnection: () => socket } : { agent: this.agent }),
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const setCookies = res.headers["set-cookie"] ?? [];
          for (const c of setCookies) {
            const [pair, ...attrs] = c.split(";");
            const i = pair?.indexOf("=") ?? -1;
            if (!pair || i < 0) continue;
            const name = pair.slice(0, i).trim();
            const value = pair.slice(i + 1).trim();
            if (attrs.some((a) => /max-age=0/i.test(a.trim())) || value === "") this.jar.delete(name);
            else this.jar.set(name, value);
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8"), setCookies, reusedConnection: req.reusedSocket });
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      const hook = this.onConnect;
      if (hook && !socket) req.once("socket", (s) => (s as TLSSocket).once("secureConnect", () => hook(s as TLSSocket)));
      req.end(body);
    });
  }

  get(path: string): Promise<Response> {
    return this.request("GET", path);
  }

  postForm(path: string, fields: Record<string, string>): Promise<Response> {
    return this.request("POST", path, new URLSearchParams(fields).toString(), { "content-type": "application/x-www-form-urlencoded" });
  }

  postJson(path: string, value: unknown): Promise<Response> {
    return this.request("POST", path, JSON.stringify(value), { "content-type": "application/json", accept: "application/json" });
  }

  /** The CSRF token of the (first) form on a page. */
  static csrf(page: Response): string {
    const t = /name="csrf" value="([^"]*)"/.exec(page.body)?.[1];
    if (!t) throw new Error(`no CSRF field in: ${page.body.slice(0, 500)}`);
    return t;
  }

  /** The error code shown on a page (ERROR code: X), if any. */
  static errorCode(page: { readonly body: string }): string | undefined {
    return /(?:Error code|エラーコード): ([A-Z_]+)/.exec(page.body)?.[1];
  }

  /** GET / then POST /login with the page's token. */
  async login(userId: string, password: string): Promise<Response> {
    const page = await this.get("/");
    return this.postForm("/login", { csrf: Browserish.csrf(page), userId, password });
  }

  /** Logs in with the initial password and changes it; returns the new password. */
  async loginAndChange(userId: string, initial: string, next = "Kawasemi-Sakura-2026!"): Promise<string> {
    const r = await this.login(userId, initial);
    if (r.status !== 303) throw new Error(`login failed: ${r.status} ${Browserish.errorCode(r)}`);
    const form = await this.get("/password");
    const c = await this.postForm("/password", { csrf: Browserish.csrf(form), current: initial, next, confirm: next });
    if (c.status !== 303) throw new Error(`password change failed: ${c.status} ${Browserish.errorCode(c)}`);
    return next;
  }
}

