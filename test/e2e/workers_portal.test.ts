/**
 * `serve --workers 2` with the portal, on SQLite (WAL, two processes on one file) and on
 * PostgreSQL: whatever a user or an operator does works through either worker, and what one
 * worker decides (a lockout, an address paused, a revocation) holds in the other at the next
 * request.
 *
 * Which worker answered is read from the kernel, not from the response: the server end of each
 * test connection is found in /proc/net/tcp and its owner among the workers' /proc/PID/fd
 * (helpers/ca.ts workerOf). The checks send their requests to the workers in turn (a connection
 * that went to the other worker is closed unused and another opened: helpers/ca.ts
 * connectionTo), so every test shows both workers answered the requests it checks.
 *
 * - Enrollments (simpleenroll) and renewals (simplereenroll on the portal with the current
 *   certificate), logins and console actions (register a user, open the console and a user's
 *   page) succeed through both workers.
 * - An operator's revocation: the revoked certificate is refused by both workers at the next
 *   request, on connections opened before the revocation (kept alive) and on new ones.
 * - The account lockout and the per-address failure limit count failures spread over both
 *   workers and lock on both after the configured number.
 * - Without --workers, serve starts one worker per core.
 * - `kill -9` of a worker under a load of logins and enrollments loses nothing: each login and
 *   each enrollment either completed or succeeds when retried (the same CSR), one certificate
 *   per user, and the supervisor starts a new worker.
 */
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import Database from "better-sqlite3";
import { addUser, childrenOf, connectionTo, initCa, initialPasswordFor, passcodeFor, serve, until, workerOf, workerPids, type Served, type TestCa } from "../helpers/ca.js";
import { estRequest, makeCsr, type ConnectVia, type HttpResult } from "../helpers/est.js";
import { Browserish, OPERATOR_EMAIL, OPERATOR_ID } from "../helpers/portal.js";
import { shomeiCa } from "../helpers/run.js";
import { needs, testSchema } from "../helpers/tools.js";
import { MAX_WORKERS } from "../../src/server/config.js";
import { exportPrivateKeyPem } from "../../src/pki/keys.js";
import { toPem } from "../../src/pki/pem.js";
import { readCertsOnly } from "../../src/pki/pkcs7.js";
import { readCertificate } from "../../src/pki/certificate.js";

const LOCK_AFTER = 4;
const ADDRESS_LIMIT = 6;
const NEW_PASSWORD = "Kawasemi-Sakura-2026!";

/** Counts which worker took each connection a hook saw. */
class Seen {
  readonly by = new Map<number, number>();
  unknown = 0;
  constructor(private readonly pids: () => readonly number[]) {}
  readonly hook = (s: TLSSocket): void => {
    const w = workerOf(s, this.pids());
    if (w === undefined) this.unknown += 1;
    else this.by.set(w, (this.by.get(w) ?? 0) + 1);
  };
  /**
   * The connection for the next request: one the worker that has taken the fewest so far took.
   * serve lets its workers accept themselves, and one after another the kernel may give every
   * connection of a short sequential check to the same idle worker.
   */
  readonly via: ConnectVia = (open) => {
    const pids = this.pids();
    const next = [...pids].sort((a, b) => (this.by.get(a) ?? 0) - (this.by.get(b) ?? 0))[0] ?? assert.fail("no workers");
    return connectionTo(next, pids, open);
  };
  /** Both: sees each connection and chooses it. */
  readonly on = { onConnect: this.hook, connectVia: this.via };
  /** Fails unless every connection was found in a worker and both workers took some. */
  assertBoth(what: string): void {
    assert.equal(this.unknown, 0, `${what}: ${this.unknown} connections not found in any worker`);
    assert.deepEqual([...this.by.keys()].sort((a, b) => a - b), [...this.pids()].sort((a, b) => a - b), `${what}: served by ${JSON.stringify([...this.by])}`);
  }
  count(): number {
    return [...this.by.values()].reduce((a, b) => a + b, 0) + this.unknown;
  }
}

interface Member {
  readonly id: string;
  readonly email: string;
  readonly passcode: string;
  password: string;
  certPem: string;
  keyPem: string;
  serial: string;
}

function firstCert(r: HttpResult): Buffer {
  assert.equal(r.status, 200, r.body);
  return readCertsOnly(Buffer.from(r.body.replace(/\s/g, ""), "base64"))[0] ?? assert.fail("no certificate in the answer");
}

async function register(dir: string, id: string): Promise<Member> {
  const { email, passcode } = await addUser(dir, id);
  return { id, email, passcode, password: await initialPasswordFor(dir, email), certPem: "", keyPem: "", serial: "" };
}

/** simpleenroll with the user's passcode; keeps the key and certificate on `m`. */
async function enrollMember(srv: Served, rootPem: string, m: Member, seen?: Seen): Promise<void> {
  const csr = await makeCsr(m.id);
  const r = await estRequest(srv.estUrl, "simpleenroll", rootPem, { auth: { user: m.id, pass: m.passcode }, body: csr.base64, ...seen?.on });
  const der = firstCert(r);
  m.certPem = toPem(der, "CERTIFICATE");
  m.keyPem = exportPrivateKeyPem(csr.key.privateKey);
  m.serial = readCertificate(der).serialHex;
}

const portalOf = (srv: Served): string => /^Portal: (https:\/\/\S+?)\/?$/m.exec(srv.output())?.[1] ?? assert.fail("no Portal: line");

interface KeptReply { readonly status: number; readonly body: string; readonly reused: boolean; readonly socket: TLSSocket }

/** A GET on a keep-alive agent (one connection per agent), presenting the user's certificate. */
function keptGet(agent: Agent, url: string, m: Member, rootPem: string, cookie: string): Promise<KeptReply> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(url), { agent, ca: rootPem, cert: m.certPem, key: m.keyPem, headers: { cookie, "accept-language": "en" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), reused: req.reusedSocket, socket: req.socket as TLSSocket }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** The JSON problem code of an API answer. */
const codeOf = (r: { readonly body: string }): string | undefined => {
  try {
    return (JSON.parse(r.body) as { code?: string }).code;
  } catch {
    return undefined;
  }
};

/**
 * One CA, one `serve --workers 2`, the tests in order (the address limit last: it pauses the
 * address for every later enrollment). `target` gives the --db URL, undefined for SQLite, or
 * false when PostgreSQL is not there.
 */
function twoWorkers(name: string, target: () => Promise<string | false | undefined>, cleanup: () => Promise<void>): void {
  describe(`serve --workers 2 with the portal: ${name}`, { timeout: 600_000 }, () => {
    let ca: TestCa | undefined;
    let srv: Served | undefined;
    let db: string | undefined;
    let missing = false;
    let pids: number[] = [];
    let portal = "";
    let rootPem = "";
    let op: Browserish | undefined;
    const members: Member[] = [];
    const seen = (): Seen => new Seen(() => pids);

    before(async () => {
      const d = await target();
      if (d === false) {
        missing = true;
        return;
      }
      db = d;
      ca = await initCa(["--operator", OPERATOR_ID, "--operator-email", OPERATOR_EMAIL, "--operator-name", "運用 太郎", "--renew-window-days", "400", ...(db ? ["--db", db] : [])]);
      const file = join(ca.dir, "shomei.json");
      const config = JSON.parse(readFileSync(file, "utf8")) as { portal: Record<string, unknown> };
      writeFileSync(file, JSON.stringify({ ...config, portal: { ...config.portal, maxFailedLogins: LOCK_AFTER }, addressLimit: { failures: ADDRESS_LIMIT, windowMinutes: 15 } }, null, 2));
      for (let i = 1; i <= 5; i++) members.push(await register(ca.dir, `a00001${String(i).padStart(2, "0")}`));
      srv = await serve(ca.dir, ["--workers", "2"]);
      pids = await workerPids(srv);
      assert.equal(pids.length, 2);
      portal = portalOf(srv);
      rootPem = readFileSync(ca.rootPem, "utf8");
      // The operator's certificate and password, as the first operator gets them.
      const opMember: Member = { id: OPERATOR_ID, email: OPERATOR_EMAIL, passcode: await passcodeFor(ca.dir, OPERATOR_EMAIL), password: await initialPasswordFor(ca.dir, OPERATOR_EMAIL), certPem: "", keyPem: "", serial: "" };
      await enrollMember(srv, ca.rootPem, opMember);
      op = new Browserish(portal, rootPem, { certPem: opMember.certPem, keyPem: opMember.keyPem });
      opMember.password = await op.loginAndChange(OPERATOR_ID, opMember.password);
    });
    after(async () => {
      await srv?.stop();
      ca?.cleanup();
      await cleanup();
    });
    const ready = async (t: TestContext): Promise<{ ca: TestCa; srv: Served; op: Browserish } | undefined> => {
      if (missing) {
        await needs(t, "postgres");
        return undefined;
      }
      if (!(await needs(t, "python3"))) return undefined;
      if (!ca || !srv || !op) throw new Error("serve did not start");
      return { ca, srv, op };
    };

    test("enrollments (simpleenroll) succeed through both workers", async (t) => {
      const c = await ready(t);
      if (!c) return;
      const s = seen();
      for (const m of members) await enrollMember(c.srv, c.ca.rootPem, m, s);
      s.assertBoth("enrollments");
      assert.equal(new Set(members.map((m) => m.serial)).size, members.length);
    });

    test("renewals (simplereenroll on the portal, authenticated by the current certificate) succeed through both workers", async (t) => {
      const c = await ready(t);
      if (!c) return;
      const s = seen();
      for (const m of members) {
        const csr = await makeCsr(m.id);
        const r = await estRequest(`${portal}/.well-known/est`, "simplereenroll", c.ca.rootPem, { body: csr.base64, client: { cert: m.certPem, key: m.keyPem }, ...s.on });
        const der = firstCert(r);
        const renewed = readCertificate(der);
        assert.notEqual(renewed.serialHex, m.serial, `${m.id}: a new certificate`);
        assert.match(renewed.subject, new RegExp(`CN=${m.id}`));
        m.certPem = toPem(der, "CERTIFICATE");
        m.keyPem = exportPrivateKeyPem(csr.key.privateKey);
        m.serial = renewed.serialHex;
      }
      s.assertBoth("renewals");
    });

    test("logins (with the renewed certificates) and the operator's console actions succeed through both workers", async (t) => {
      const c = await ready(t);
      if (!c) return;
      const users = seen();
      for (const m of members) {
        const tab = new Browserish(portal, rootPem, { certPem: m.certPem, keyPem: m.keyPem });
        Object.assign(tab, users.on);
        // GET / for the token, POST /login, GET /password, POST /password: the token and the session made by one worker are accepted by the other.
        m.password = await tab.loginAndChange(m.id, m.password, NEW_PASSWORD);
        const me = await tab.get("/me");
        assert.equal(me.status, 200, me.body.slice(0, 300));
        assert.ok(me.body.includes(m.id));
      }
      users.assertBoth("user logins");

      const ops = seen();
      Object.assign(c.op, ops.on);
      const added = await c.op.postJson("/api/v1/users", { userId: "a0000401", email: "a0000401@example.jp", name: "利用者 四〇一" });
      assert.equal(added.status, 201, added.body);
      for (let i = 0; i < 2; i++) {
        const consolePage = await c.op.get("/console");
        assert.equal(consolePage.status, 200, consolePage.body.slice(0, 300));
        const userPage = await c.op.get("/console/users/a0000401");
        assert.equal(userPage.status, 200, userPage.body.slice(0, 300));
        assert.ok(userPage.body.includes("a0000401@example.jp"));
      }
      const listed = await c.op.get("/api/v1/users/a0000401");
      assert.equal(listed.status, 200, listed.body);
      Object.assign(c.op, { onConnect: undefined, connectVia: undefined });
      ops.assertBoth("console actions");
    });

    test("an operator's revocation: both workers refuse the certificate at the next request, on connections kept open from before and on new ones", async (t) => {
      const c = await ready(t);
      if (!c) return;
      const m = members[members.length - 1] ?? assert.fail("no member");
      const tab = new Browserish(portal, rootPem, { certPem: m.certPem, keyPem: m.keyPem });
      assert.equal((await tab.login(m.id, m.password)).status, 303);
      const cookie = [...tab.jar].map(([k, v]) => `${k}=${v}`).join("; ");
      // One kept-alive connection on each worker, each showing the user's page.
      const kept = new Map<number, Agent>();
      const agents: Agent[] = [];
      t.after(() => { for (const a of agents) a.destroy(); });
      for (let i = 0; i < 12 && kept.size < 2; i++) {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        agents.push(agent);
        const r = await keptGet(agent, `${portal}/me`, m, rootPem, cookie);
        assert.equal(r.status, 200, r.body.slice(0, 300));
        const w = workerOf(r.socket, pids) ?? assert.fail("connection not found in any worker");
        if (!kept.has(w)) kept.set(w, agent);
      }
      assert.equal(kept.size, 2, "could not open a connection on each worker");

      const rv = await c.op.postJson(`/api/v1/certificates/${m.serial}/revoke`, { reason: "keyCompromise" });
      assert.equal(rv.status, 200, rv.body);

      for (const [w, agent] of kept) {
        const r = await keptGet(agent, `${portal}/me`, m, rootPem, cookie);
        assert.equal(r.reused, true, `worker ${w}: the request went on the connection opened before the revocation`);
        assert.equal(workerOf(r.socket, pids), w);
        assert.ok(r.status >= 400, `worker ${w} still served the revoked certificate: ${r.status}`);
        assert.equal(Browserish.errorCode(r), "CERT_REVOKED", `worker ${w}: ${r.body.slice(0, 300)}`);
      }
      const fresh = seen();
      Object.assign(tab, fresh.on);
      for (let i = 0; i < 24 && (i < 4 || fresh.by.size < 2); i++) {
        const r = await tab.get("/me");
        assert.ok(r.status >= 400, `new connection ${i + 1}: ${r.status}`);
        assert.equal(Browserish.errorCode(r), "CERT_REVOKED");
      }
      fresh.assertBoth("refusals on new connections");
    });

    test(`the account lockout counts wrong passwords on both workers and locks on both after ${LOCK_AFTER}`, async (t) => {
      const c = await ready(t);
      if (!c) return;
      const m = members[0] ?? assert.fail("no member");
      const tab = new Browserish(portal, rootPem, { certPem: m.certPem, keyPem: m.keyPem });
      const wrong = seen();
      Object.assign(tab, wrong.on);
      // The wrong password that reaches the limit locks the user ID, and says so.
      for (let i = 0; i < LOCK_AFTER; i++) {
        const r = await tab.postJson("/api/v1/login", { userId: m.id, password: `wrong-${i}` });
        assert.equal(codeOf(r), i < LOCK_AFTER - 1 ? "LOGIN_FAILED" : "ACCOUNT_LOCKED", `wrong password ${i + 1}: ${r.body}`);
      }
      wrong.assertBoth("wrong passwords");
      const locked = seen();
      Object.assign(tab, locked.on);
      for (let i = 0; i < 8 && locked.by.size < 2; i++) {
        const r = await tab.postJson("/api/v1/login", { userId: m.id, password: m.password });
        assert.equal(r.status, 403, r.body);
        assert.match(codeOf(r) ?? "", /^ACCOUNT_LOCKED/, r.body);
      }
      locked.assertBoth("the right password after the lockout");
    });

    test(`the per-address failure limit counts wrong passcodes on both workers and pauses the address on both after ${ADDRESS_LIMIT}`, async (t) => {
      const c = await ready(t);
      if (!c) return;
      const body = (await makeCsr("a0000901")).base64;
      const failures = seen();
      for (let i = 0; i < ADDRESS_LIMIT; i++) {
        const r = await estRequest(c.srv.estUrl, "simpleenroll", c.ca.rootPem, { auth: { user: `a09${String(i).padStart(5, "0")}`, pass: "2222-3333-4444-5555" }, body, ...failures.on });
        assert.equal(r.status, 401, `failure ${i + 1}: ${r.body}`);
      }
      failures.assertBoth("wrong passcodes");
      const paused = seen();
      for (let i = 0; i < 8 && paused.by.size < 2; i++) {
        const r = await estRequest(c.srv.estUrl, "simpleenroll", c.ca.rootPem, { auth: { user: "a0000901", pass: "2222-3333-4444-5555" }, body, ...paused.on, headers: { "accept-language": "en" } });
        assert.equal(r.status, 429, r.body);
        assert.match(r.body, /^\[TOO_MANY_ATTEMPTS\]/);
      }
      paused.assertBoth("answers after the limit");
    });

    test("without --workers, serve starts one worker per core (and SQLite runs in WAL mode for several processes)", async (t) => {
      const c = await ready(t);
      if (!c) return;
      const again = await serve(c.ca.dir);
      t.after(() => again.stop());
      const all = await workerPids(again);
      assert.equal(all.length, Math.min(availableParallelism(), MAX_WORKERS));
      assert.deepEqual(childrenOf(again.process.pid ?? 0), [...all].sort((a, b) => a - b));
      if (!db) {
        const file = new Database(join(c.ca.dir, "shomei.db"), { readonly: true, fileMustExist: true });
        try {
          assert.equal(file.pragma("journal_mode", { simple: true }), "wal");
        } finally {
          file.close();
        }
      }
      // Every worker of this second service answers too (a certificate list by the operator's CLI is not enough: ask over HTTPS).
      // This service hands connections out the default way: the kernel gives each to a worker
      // waiting in accept(), and one after another they may all go to the same idle worker. So
      // the requests come in bursts at once, as users' do, until every worker has taken some.
      const own = new Seen(() => all);
      for (let round = 0; round < 10 && own.by.size < all.length; round++) {
        const rs: HttpResult[] = await Promise.all(Array.from({ length: 4 * all.length }, (): Promise<HttpResult> => estRequest(again.estUrl, "cacerts", c.ca.rootPem, { onConnect: own.hook })));
        assert.deepEqual(rs.map((r) => r.status), rs.map(() => 200));
      }
      own.assertBoth("cacerts from the default workers");
    });
  });
}

twoWorkers("SQLite, one data folder", () => Promise.resolve(undefined), () => Promise.resolve());
const schema = testSchema("shomei_w2");
twoWorkers("PostgreSQL", () => schema.url(), () => schema.drop());

async function show(dir: string, userId: string): Promise<{ passcode: { status: string }; certificates: { serial: string }[] }> {
  const r = await shomeiCa(["user", "show", userId, "--json", "--data", dir]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { passcode: { status: string }; certificates: { serial: string }[] };
}

test("kill -9 of a worker under a load of logins and enrollments: every login and enrollment completed or succeeds when retried, and the supervisor replaces the worker", { timeout: 400_000 }, async (t) => {
  if (!(await needs(t, "python3"))) return;
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const enrollees: Member[] = [];
  for (let i = 0; i < 10; i++) enrollees.push(await register(ca.dir, `a00005${String(i).padStart(2, "0")}`));
  const loginUsers: Member[] = [];
  for (let i = 0; i < 3; i++) loginUsers.push(await register(ca.dir, `a00006${String(i).padStart(2, "0")}`));
  const csrs = await Promise.all(enrollees.map((m) => makeCsr(m.id)));
  const srv = await serve(ca.dir, ["--workers", "2"]);
  t.after(() => srv.stop());
  const supervisor = srv.process.pid ?? assert.fail("no pid");
  const pids = await workerPids(srv);
  const portal = portalOf(srv);
  const rootPem = readFileSync(ca.rootPem, "utf8");
  for (const m of loginUsers) await enrollMember(srv, ca.rootPem, m);
  const tabs = loginUsers.map((m) => new Browserish(portal, rootPem, { certPem: m.certPem, keyPem: m.keyPem }));
  // A connection the killed worker had taken breaks (0); one still waiting in the listen queue is
  // taken by the other worker. An answer that never comes would be given up on after a while and
  // retried, like a browser: -1 marks that.
  const NO_ANSWER = -1;
  const within = (p: Promise<number>): Promise<number> =>
    Promise.race([p, new Promise<number>((r) => { setTimeout(() => r(NO_ANSWER), 20_000).unref(); })]);
  const login = (i: number): Promise<number> => {
    const m = loginUsers[i % loginUsers.length] ?? assert.fail("no user");
    const tab = tabs[i % tabs.length] ?? assert.fail("no tab");
    return within(tab.postJson("/api/v1/login", { userId: m.id, password: m.password }).then((r) => (codeOf(r) === undefined && r.status === 200 ? 200 : r.status), () => 0));
  };
  const enrollOnce = (i: number): Promise<number> => {
    const m = enrollees[i] ?? assert.fail("no enrollee");
    return within(estRequest(srv.estUrl, "simpleenroll", ca.rootPem, { auth: { user: m.id, pass: m.passcode }, body: csrs[i]?.base64 ?? "" }).then((r) => r.status, () => 0));
  };

  // Logins (argon2id: each keeps a worker busy a while) and enrollments in flight together.
  const logins = Array.from({ length: 12 }, (_, i) => login(i));
  const enrollments = enrollees.map((_, i) => enrollOnce(i));
  // Kill a worker the moment the first enrollment is out: the other requests are in between.
  await Promise.race(enrollments.map((p) => p.then((s) => (s === 200 ? undefined : new Promise(() => undefined)))));
  const victim = pids[0] ?? assert.fail("no worker");
  process.kill(victim, "SIGKILL");
  const loginAnswers = await Promise.all(logins);
  const enrollAnswers = await Promise.all(enrollments);

  await until("WORKER_DIED logged", () => new RegExp(`\\[WORKER_DIED\\]: Worker \\d \\(PID ${victim}\\) stopped \\(signal SIGKILL\\)`).test(srv.output()), 30_000);
  // Retried (a user would press the button again): each one that did not complete now does.
  for (const [i, s] of loginAnswers.entries()) {
    if (s !== 200) assert.equal(await login(i), 200, `login ${i} retried (first answer ${s})`);
  }
  for (const [i, s] of enrollAnswers.entries()) {
    if (s !== 200) assert.equal(await enrollOnce(i), 200, `enrollment of ${enrollees[i]?.id ?? ""} retried with the same CSR (first answer ${s})`);
  }
  await until("a new worker serves", () => /^Worker \d is serving again \(PID \d+\)\.$/m.test(srv.output()), 60_000);
  const now = childrenOf(supervisor);
  assert.equal(now.length, 2);
  assert.ok(!now.includes(victim) && now.includes(pids[1] ?? 0), `workers now ${now.join(", ")}`);
  for (const m of enrollees) {
    const s = await show(ca.dir, m.id);
    assert.equal(s.passcode.status, "used", m.id);
    assert.equal(s.certificates.length, 1, `${m.id}: ${s.certificates.length} certificates`);
  }
  // Nobody got locked or lost a session store: the replacement and the survivor both log everyone in.
  const after = new Seen(() => now);
  for (const tab of tabs) Object.assign(tab, after.on);
  for (let i = 0; i < 8 && after.by.size < 2; i++) assert.equal(await login(i), 200, `login ${i} after the replacement`);
  after.assertBoth("logins after the replacement");
  // What the first answers were, for the record when this test fails elsewhere.
  t.diagnostic(`first answers (0: connection broken, -1: no answer in 20 s): logins ${loginAnswers.join(",")}; enrollments ${enrollAnswers.join(",")}`);
});
