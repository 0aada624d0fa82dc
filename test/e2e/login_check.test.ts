/**
 * `shomei login-check` as a user runs it: `shomei enroll` fills a certificate store, then the
 * login check connects to the portal with that certificate and the password from stdin.
 * Covers: works, password change due, wrong password (counts toward the lock), revoked.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { shomei, SHOMEI } from "../helpers/run.js";
import { runAtTerminal } from "../helpers/pty.js";
import { tempDir } from "../helpers/ca.js";
import { Browserish, OPERATOR_ID, startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { realClock } from "../helpers/inprocess.js";

let env: PortalEnv;

before(async () => {
  // The CLI runs on the wall clock, so the service does too.
  env = await startPortalEnv({ clock: realClock() });
});

after(async () => {
  await env?.stop();
});

const enrolled = (userId: string): ReturnType<PortalEnv["enrollWithCli"]> => env.enrollWithCli(userId);

const check = (store: string, password: string, extra: readonly string[] = []): ReturnType<typeof shomei> =>
  shomei(["login-check", "--server", env.url, "--store", store, "--password-stdin", ...extra], { input: `${password}\n` });

test("with the initial password: login works, and it says a password change is due (exit 0)", async () => {
  const u = await enrolled("a0000501");
  const r = await check(u.store, u.password);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Login works \(user ID a0000501\)\./);
  assert.match(r.stdout, /still the initial one/);
  assert.match(r.stderr, /with the certificate of user ID a0000501/);
  // A check is a login (audited) but does not change the password or open a session.
  const user = await env.server.services.store.getUser("a0000501");
  assert.equal(user?.passwordInitial, true);
  assert.ok(user?.lastLoginAt);
  const ja = await check(u.store, u.password, ["--lang", "ja"]);
  assert.match(ja.stdout, /ログインできます（ユーザID a0000501）。/);
});

test("after the password was changed in the browser: works, no change due", async () => {
  const u = await enrolled("a0000502");
  // Change the password the way the browser does, with the certificate from the store.
  const dir = join(u.store, "certs", "a0000502");
  const serial = readdirSync(dir)[0] ?? "";
  const tab = new Browserish(env.url, env.rootPem, {
    certPem: readFileSync(join(dir, serial, "cert.pem"), "utf8"), keyPem: readFileSync(join(dir, serial, "key.pem"), "utf8"),
  });
  const next = await tab.loginAndChange("a0000502", u.password);
  const r = await check(u.store, next);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /No password change is due\./);
});

test("two user IDs on one PC and no --user: without a terminal USER_AMBIGUOUS names both and what to type; at a terminal choosing 2 logs in as the second", async () => {
  const store = join(tempDir(), "two-ids");
  const first = await env.enrollWithCli("a0000511", store);
  const second = await env.enrollWithCli("a0000512", store);
  const script = await check(store, first.password);
  assert.equal(script.code, 2, script.stderr);
  assert.match(script.stderr, /\[USER_AMBIGUOUS\]/);
  assert.match(script.stderr, /a0000511, a0000512/);
  assert.match(script.stderr, /--user a0000512/);
  const ja = await check(store, first.password, ["--lang", "ja"]);
  assert.match(ja.stderr, /複数のユーザIDの証明書があります（a0000511, a0000512）/);

  const at = await runAtTerminal([process.execPath, SHOMEI, "login-check", "--server", env.url, "--store", store],
    { answers: [{ when: "Number of the user ID", send: "2" }, { when: "Password", send: second.password }], env: { LANG: "en_US.UTF-8" } });
  assert.equal(at.code, 0, at.output);
  assert.match(at.output, /1\) a0000511 .* expires /);
  assert.match(at.output, /Login works \(user ID a0000512\)\./);
});

test("a wrong password: LOGIN_FAILED with the remaining tries, exit 1; it counts toward the lock", async () => {
  const u = await enrolled("a0000503");
  const r = await check(u.store, "not-my-password");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[LOGIN_FAILED\]/);
  assert.match(r.stderr, /4 more failures/);
  assert.match(r.stderr, /Helpdesk: helpdesk@example\.jp/);
  assert.equal((await env.server.services.store.getUser("a0000503"))?.failedLogins, 1);
});

test("a revoked certificate: CERT_REVOKED and what to do, exit 1", async () => {
  const u = await enrolled("a0000504");
  const certs = await env.server.services.store.listCertificates("a0000504");
  const operator = await env.server.services.store.getUser(OPERATOR_ID);
  assert.ok(operator && certs[0]);
  await env.server.services.portal.revoke(operator, certs[0].serial, "keyCompromise");
  const r = await check(u.store, u.password);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[CERT_REVOKED\]/);
  assert.match(r.stderr, /new passcode/);
});

test("no certificate in the store, or a store that does not know the server's root", async () => {
  const empty = join(tempDir(), "empty");
  const r = await check(empty, "whatever");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[NO_CERTIFICATE_IN_STORE\]/);
  assert.match(r.stderr, /shomei enroll/);
});

test("pointed at the EST address instead of the portal: it finds the portal through /.well-known/shomei.json and logs in", async () => {
  const u = await enrolled("a0000505");
  const r = await shomei(["login-check", "--server", env.server.url, "--store", u.store, "--password-stdin"], { input: `${u.password}\n` });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stderr.includes(`${env.server.url} is not the portal; connecting to the portal ${env.url}`), r.stderr);
  assert.match(r.stdout, /Login works \(user ID a0000505\)\./);
  assert.doesNotMatch(r.stderr, /SERVER_BAD_RESPONSE/);
});

test("pointed at a server that does not name its portal: LOGIN_NOT_PORTAL says which URL to give", async () => {
  // A service whose EST port publishes no description (as other EST servers): the one fault
  // here is made by answering 404 for /.well-known/shomei.json before the real route.
  const bare = await startPortalEnv({
    clock: realClock(),
    configure: (app) => {
      app.addHook("onRequest", async (req, reply) => {
        if (req.url.startsWith("/.well-known/shomei.json")) await reply.code(404).send();
      });
    },
  });
  try {
    const u = await bare.enrollWithCli("a0000503");
    const r = await shomei(["login-check", "--server", bare.server.url, "--store", u.store, "--password-stdin"], { input: `${u.password}\n` });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[LOGIN_NOT_PORTAL\]/);
    assert.match(r.stderr, /is not the online system \(portal\) \(HTTP 404\)/);
    assert.match(r.stderr, /Give the portal's URL with --server/);
    assert.doesNotMatch(r.stderr, /SERVER_BAD_RESPONSE/);
  } finally {
    await bare.stop();
  }
});
