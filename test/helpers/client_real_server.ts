/**
 * The real Shomei service for the client's tests: a CA made by `shomei-ca init` in a temporary
 * folder, the real app (src/server/app.ts, real TLS, real SQLite) listening on 127.0.0.1 inside
 * the test process, users registered with `shomei-ca user add` and their passcodes read from the
 * registration e-mail (test/helpers/ca.ts). One per test file is enough: give each test its own
 * user IDs (the real server wants `^a[0-9]{7}$`).
 *
 * Two test hooks are added to the app; neither changes what the service decides:
 * - every request that reaches HTTP is recorded (method, path, headers, body), so a test can
 *   check what the client sent, or that it sent nothing;
 * - `dropAfterIssue`: after the service has issued and recorded a certificate, the connection
 *   is cut before the answer leaves. This is a fault injected on purpose (a lost answer); the
 *   service cannot be made to produce it otherwise.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { FastifyRequest } from "fastify";
import { realClock, startInProcess } from "./inprocess.js";
import { addUser, initCa, type TestCa } from "./ca.js";

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The body as the service read it ("" when it read none). */
  body: string;
}

export interface PasscodeState {
  readonly status: string;
  readonly failedAttempts: number;
}

export interface RealEstServer {
  readonly ca: TestCa;
  /** Base URL, https://127.0.0.1:PORT (what users give to `shomei enroll --server`). */
  readonly url: string;
  readonly estUrl: string;
  readonly port: number;
  readonly rootDer: Buffer;
  readonly issuingDer: Buffer;
  /** "AA:BB:…", as `shomei-ca init` printed it. */
  readonly rootFingerprint: string;
  readonly requests: RecordedRequest[];
  /** How many of the next successful enrollments to cut off after issuance (see above). */
  dropAfterIssue: number;
  /** Forgets recorded requests and pending drops (call between tests). */
  reset(): void;
  /** `shomei-ca user add`; returns the passcode from the e-mail. Needs python3 (call `needs(t, "python3")` first). */
  addUser(userId: string): Promise<string>;
  /** The certificates the service has issued to this user, from its database. */
  issued(userId: string): Promise<Buffer[]>;
  /** The user's passcode as the service's database has it. */
  passcode(userId: string): Promise<PasscodeState | undefined>;
  /** The simpleenroll requests recorded since the last reset. */
  enrollRequests(): RecordedRequest[];
  stop(): Promise<void>;
}

/** `shomei-ca init` (with `initArgs` appended, e.g. another --hostname), then the app on 127.0.0.1:0. */
export async function startRealEstServer(opts: { initArgs?: readonly string[] } = {}): Promise<RealEstServer> {
  const ca = await initCa(opts.initArgs ?? []);
  try {
    const requests: RecordedRequest[] = [];
    const recorded = new WeakMap<FastifyRequest, RecordedRequest>();
    const state = { dropAfterIssue: 0 };
    const srv = await startInProcess(ca.dir, realClock(), {
      configure: (app) => {
        app.addHook("onRequest", async (req) => {
          const r: RecordedRequest = { method: req.method, path: req.url.split("?")[0] ?? "", headers: { ...req.headers }, body: "" };
          requests.push(r);
          recorded.set(req, r);
          return Promise.resolve();
        });
        app.addHook("preHandler", async (req) => {
          const r = recorded.get(req);
          if (r && typeof req.body === "string") r.body = req.body;
          return Promise.resolve();
        });
        app.addHook("onSend", async (req, reply, payload) => {
          if (req.url.endsWith("/simpleenroll") && reply.statusCode === 200 && state.dropAfterIssue > 0) {
            state.dropAfterIssue--;
            req.raw.socket.destroy(); // issued and stored; the answer never reaches the client
          }
          return Promise.resolve(payload);
        });
      },
    });
    const { services, url } = srv;
    const port = Number(new URL(url).port);
    return Object.assign(state, {
      ca, url, port, requests,
      estUrl: `${url}/.well-known/est`,
      rootDer: services.rootDer,
      issuingDer: services.issuingDer,
      rootFingerprint: ca.rootFingerprint,
      reset() {
        requests.length = 0;
        state.dropAfterIssue = 0;
      },
      addUser: async (userId: string) => (await addUser(ca.dir, userId)).passcode,
      issued: async (userId: string) => (await services.store.listCertificates(userId)).map((c) => c.der),
      passcode: async (userId: string) => {
        const p = await services.store.getPasscode(userId);
        return p && { status: p.status, failedAttempts: p.failedAttempts };
      },
      enrollRequests: () => requests.filter((q) => q.path.endsWith("/simpleenroll")),
      stop: async () => {
        await srv.stop();
        ca.cleanup();
      },
    });
  } catch (e) {
    ca.cleanup();
    throw e;
  }
}
