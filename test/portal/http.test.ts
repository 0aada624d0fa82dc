/**
 * The portal at the HTTP level, over real TLS with real client certificates: cookies, CSRF,
 * sessions bound to the certificate, fixation, idle timeout, lockout, password rules, the
 * certificate checks, the operator console and the admin API. The clock is the service's own
 * (moved by the test) so 30-minute, 40-day and 1-year rules run without waiting.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { CertificateRecord } from "../../src/ca/ports.js";
import { exportPrivateKeyPem, generateKeyPair } from "../../src/pki/keys.js";
import { fromPem, toPem } from "../../src/pki/pem.js";
import { readCertificate } from "../../src/pki/certificate.js";
import { formatTime } from "../../src/i18n/format.js";
import { ShomeiError } from "../../src/i18n/errors.js";
import { P } from "../../src/i18n/portal_messages.js";
import { loginPage, mePage, type PageContext } from "../../src/web/pages.js";
import { PAGE_HEADERS } from "../../src/web/portal.js";
import { Browserish, OPERATOR_ID, startPortalEnv, type PortalEnv, type PortalUser, type Response } from "../helpers/portal.js";
import { issueClientCert, makeTestCa } from "../helpers/client_pki.js";

const MIN = 60_000;
const DAY = 86_400_000;
const GOOD = "Kawasemi-Sakura-2026!";

let env: PortalEnv;
let op: PortalUser;
let opTab: Browserish;

/** The operator's tab, logged in again when the moved clock ended its session. */
async function operatorTab(): Promise<Browserish> {
  if ((await opTab.get("/me")).status !== 200) {
    opTab = tab(op);
    const r = await opTab.login(OPERATOR_ID, GOOD);
    assert.equal(r.status, 303, code(r));
  }
  return opTab;
}

const tab = (u?: { certPem: string; keyPem: string }): Browserish => new Browserish(env.url, env.rootPem, u);
const code = (r: { body: string }): string | undefined => Browserish.errorCode(r);

async function audit(event: string, userId: string): Promise<{ actor: string; outcome: string; detail: unknown; count: number }[]> {
  const r = await env.server.services.store.queryAudit({ event, userId });
  return r.map((x) => ({ actor: x.actor, outcome: x.outcome, detail: x.detail, count: x.count }));
}

before(async () => {
  env = await startPortalEnv();
  op = await env.enroll(OPERATOR_ID);
  opTab = tab(op);
  await opTab.loginAndChange(OPERATOR_ID, op.password);
});

after(async () => {
  await env?.stop();
});

describe("certificate checks: a page that says what to do, not a TLS error", () => {
  test("no certificate: CERT_REQUIRED with the remedy and the helpdesk, in Japanese by default", async () => {
    const r = await new Browserish(env.url, env.rootPem).request("GET", "/", undefined, { "accept-language": "ja" });
    assert.equal(r.status, 403);
    assert.equal(code(r), "CERT_REQUIRED");
    assert.match(r.body, /クライアント証明書が提示されていません/);
    assert.match(r.body, /お問い合わせ先: helpdesk@example\.jp/);
    assert.match(r.body, /<html lang="ja">/);
    const en = await new Browserish(env.url, env.rootPem).get("/?lang=en");
    assert.match(en.body, /No client certificate was presented/);
    assert.match(en.body, /Helpdesk: helpdesk@example\.jp/);
  });

  test("a certificate from another CA: CERT_OTHER_CA naming its issuer", async () => {
    const other = await makeTestCa({ organization: "Other Corp" });
    const key = await generateKeyPair();
    const der = await issueClientCert(other, { publicKey: key.publicKey, commonName: "a0000100", notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
    const r = await tab({ certPem: toPem(der, "CERTIFICATE"), keyPem: exportPrivateKeyPem(key.privateKey) }).get("/");
    assert.equal(r.status, 403);
    assert.equal(code(r), "CERT_OTHER_CA");
    assert.match(r.body, /Other Corp/);
  });

  test("the user's certificate opens the login page naming the certificate", async () => {
    const u = await env.enroll("a0000101");
    const r = await tab(u).get("/");
    assert.equal(r.status, 200);
    assert.match(r.body, /<form method="post" action="\/login">/);
    assert.match(r.body, new RegExp(`a0000101</strong> \\(Serial number <code>${u.serial}`));
  });

  test("on one kept-alive connection, a suspension and a revocation count from the very next request", async () => {
    const u = await env.enroll("a0000104");
    const t = tab(u).keepAlive();
    try {
      await t.loginAndChange(u.userId, u.password);
      const first = await t.get("/me");
      assert.equal(first.status, 200);
      assert.equal((await t.get("/me")).reusedConnection, true, "the requests share one TLS connection");
      await env.server.services.store.setStatus(u.userId, "suspended", env.clock.now, []);
      const suspended = await t.get("/");
      assert.equal(suspended.reusedConnection, true);
      assert.equal(code(suspended), "USER_SUSPENDED");
      await env.server.services.store.setStatus(u.userId, "active", env.clock.now, []);
      const back = await t.get("/");
      assert.equal(back.status, 200, "resumed on the same connection");
      await env.server.services.store.revokeCertificate(u.serial, "keyCompromise", env.clock.now, []);
      const revoked = await t.get("/");
      assert.equal(revoked.reusedConnection, true);
      assert.equal(revoked.status, 403);
      assert.equal(code(revoked), "CERT_REVOKED");
    } finally {
      t.close();
    }
  });

  test("a revoked certificate (operator, admin API) and a suspended user are refused at once", async () => {
    const u = await env.enroll("a0000102");
    const t = tab(u);
    await t.loginAndChange(u.userId, u.password);
    assert.equal((await t.get("/me")).status, 200);
    const s = await opTab.postJson(`/api/v1/users/${u.userId}/suspend`, {});
    assert.equal(s.status, 200, s.body);
    const suspended = await t.get("/me");
    assert.equal(code(suspended), "USER_SUSPENDED");
    assert.equal((await opTab.postJson(`/api/v1/users/${u.userId}/resume`, {})).status, 200);
    const rv = await opTab.postJson(`/api/v1/certificates/${u.serial.toUpperCase().match(/../g)?.join(":")}/revoke`, { reason: "keyCompromise" });
    assert.equal(rv.status, 200, rv.body);
    assert.equal((JSON.parse(rv.body) as { certificate: { status: string } }).certificate.status, "revoked");
    const r = await t.get("/me");
    assert.equal(r.status, 403);
    assert.equal(code(r), "CERT_REVOKED");
    const again = await opTab.postJson(`/api/v1/certificates/${u.serial}/revoke`, { reason: "keyCompromise" });
    assert.equal(again.status, 409);
    assert.equal((JSON.parse(again.body) as { code: string }).code, "REVOKE_NOT_POSSIBLE");
    const events = await audit("certificate.revoke", u.userId);
    assert.equal(events[0]?.actor, `operator:${OPERATOR_ID}`);
  });
});

describe("login", () => {
  test("the session cookie is __Host-, Secure, HttpOnly, SameSite=Strict; the user ID must be the certificate's", async () => {
    const u = await env.enroll("a0000110");
    const t = tab(u);
    const mismatch = await t.login("a0000111", u.password);
    assert.equal(code(mismatch), "LOGIN_USER_MISMATCH");
    assert.equal((await env.server.services.store.getUser(u.userId))?.failedLogins, 0, "a mismatch does not count toward the lock");
    const r = await t.login(u.userId, u.password);
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, "/password");
    const cookie = r.setCookies.find((c) => c.startsWith("__Host-shomei_session="));
    assert.ok(cookie, r.setCookies.join("\n"));
    for (const attr of ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"]) assert.ok(cookie.split("; ").includes(attr), `${attr} in ${cookie}`);
    assert.doesNotMatch(cookie, /Domain=/i);
    // Until the initial password is changed, nothing else opens.
    const me = await t.get("/me");
    assert.equal(me.status, 303);
    assert.equal(me.headers.location, "/password");
  });

  test("CSRF: a missing or foreign token is refused and changes nothing", async () => {
    const u = await env.enroll("a0000120");
    const t = tab(u);
    const noToken = await t.postForm("/login", { userId: u.userId, password: u.password });
    assert.equal(noToken.status, 403);
    assert.equal(code(noToken), "CSRF_INVALID");
    assert.equal(t.jar.size, 0, "no session was opened");
    // A login-form token made for another certificate does not work with this one.
    const other = await env.enroll("a0000121");
    const foreign = Browserish.csrf(await tab(other).get("/"));
    assert.equal(code(await t.postForm("/login", { csrf: foreign, userId: u.userId, password: u.password })), "CSRF_INVALID");
    await t.loginAndChange(u.userId, u.password);
    const page = await t.get("/password");
    const token = Browserish.csrf(page);
    // A token replayed from before the last login (a previous session) is refused.
    const stale = tab(u);
    const oldPage = await stale.get("/");
    const oldToken = Browserish.csrf(oldPage);
    const bad = await t.postForm("/password", { csrf: oldToken, current: GOOD, next: "Another-Long-Pass-1", confirm: "Another-Long-Pass-1" });
    assert.equal(code(bad), "CSRF_INVALID");
    const missing = await t.postForm("/password", { current: GOOD, next: "Another-Long-Pass-1", confirm: "Another-Long-Pass-1" });
    assert.equal(code(missing), "CSRF_INVALID");
    // Logout without the token does not log out.
    await t.postForm("/logout", {});
    assert.equal((await t.get("/me")).status, 200);
    // Still the old password: nothing changed.
    assert.equal(code(await t.postForm("/password", { csrf: token, current: "Another-Long-Pass-1", next: "Third-Long-Pass-22", confirm: "Third-Long-Pass-22" })), "CURRENT_PASSWORD_WRONG");
  });

  test("a session is bound to its certificate: the cookie with another certificate, or none, is useless", async () => {
    const a = await env.enroll("a0000130");
    const b = await env.enroll("a0000131");
    const ta = tab(a);
    await ta.loginAndChange(a.userId, a.password);
    const stolen = ta.jar.get("__Host-shomei_session");
    assert.ok(stolen);
    const tb = tab(b);
    tb.jar.set("__Host-shomei_session", stolen);
    const r = await tb.get("/me");
    assert.equal(r.status, 401);
    assert.equal(code(r), "SESSION_CERT_MISMATCH");
    assert.doesNotMatch(r.body, /a0000130/);
    const none = new Browserish(env.url, env.rootPem);
    none.jar.set("__Host-shomei_session", stolen);
    assert.equal(code(await none.get("/me")), "CERT_REQUIRED");
    // The owner's session is untouched by those attempts.
    assert.equal((await ta.get("/me")).status, 200);
  });

  test("no fixation: login and password change each issue a new session id; the old ids are dead", async () => {
    const u = await env.enroll("a0000140");
    const t = tab(u);
    t.jar.set("__Host-shomei_session", "attacker-chosen-value");
    const r = await t.login(u.userId, u.password);
    assert.equal(r.status, 303);
    const first = t.jar.get("__Host-shomei_session");
    assert.ok(first && first !== "attacker-chosen-value");
    const form = await t.get("/password");
    await t.postForm("/password", { csrf: Browserish.csrf(form), current: u.password, next: GOOD, confirm: GOOD });
    const second = t.jar.get("__Host-shomei_session");
    assert.ok(second && second !== first);
    const replay = tab(u);
    replay.jar.set("__Host-shomei_session", first);
    assert.equal(code(await replay.get("/me")), "SESSION_ENDED");
    assert.equal((await t.get("/me")).status, 200);
    // Logout ends the session on the server, not only in the browser.
    const me = await t.get("/me");
    await t.postForm("/logout", { csrf: Browserish.csrf(me) });
    const after = tab(u);
    after.jar.set("__Host-shomei_session", second);
    assert.equal(code(await after.get("/me")), "SESSION_ENDED");
  });

  test("one kept-alive connection switching session cookies: each request gets the session its cookie names", async () => {
    // The portal keeps a connection's last cookie and its hash (no process-wide map of raw tokens).
    const u = await env.enroll("a0000145");
    const t = tab(u).keepAlive();
    try {
      await t.loginAndChange(u.userId, u.password);
      const a = t.jar.get("__Host-shomei_session");
      const other = tab(u);
      assert.equal((await other.login(u.userId, GOOD)).status, 303);
      const b = other.jar.get("__Host-shomei_session");
      assert.ok(a && b && a !== b);
      const csrfWith = async (cookie: string): Promise<string | undefined> => {
        t.jar.set("__Host-shomei_session", cookie);
        const r = await t.get("/me");
        return r.status === 200 ? Browserish.csrf(r) : code(r);
      };
      const ca = await csrfWith(a);
      const cb = await csrfWith(b);
      assert.ok(ca && cb && ca !== cb, "each session its own form token");
      assert.equal(await csrfWith("x".repeat(43)), "SESSION_ENDED");
      assert.equal(await csrfWith(a), ca);
      assert.equal(await csrfWith(b), cb);
      // B logged out on its own connection: refused on this one at the next request, A still good.
      const me = await other.get("/me");
      await other.postForm("/logout", { csrf: Browserish.csrf(me) });
      assert.equal(await csrfWith(b), "SESSION_ENDED");
      assert.equal(await csrfWith(a), ca);
    } finally {
      t.close();
    }
  });

  test("30 minutes idle ends the session; activity keeps it", async () => {
    const u = await env.enroll("a0000150");
    const t = tab(u);
    await t.loginAndChange(u.userId, u.password);
    env.clock.advance(20 * MIN);
    assert.equal((await t.get("/me")).status, 200);
    env.clock.advance(20 * MIN);
    assert.equal((await t.get("/me")).status, 200, "20 + 20 minutes with a visit in between");
    env.clock.advance(31 * MIN);
    const r = await t.get("/me");
    assert.equal(code(r), "SESSION_ENDED");
    assert.match(r.body, /action="\/login"/);
  });

  test("5 wrong passwords lock the account (audited); an operator unlocks it", async () => {
    const u = await env.enroll("a0000160");
    const t = tab(u);
    for (let i = 1; i <= 4; i++) {
      const r = await t.login(u.userId, `wrong-${i}`);
      assert.equal(code(r), "LOGIN_FAILED");
      assert.match(r.body, new RegExp(`${5 - i} more failures`));
    }
    assert.equal(code(await t.login(u.userId, "wrong-5")), "ACCOUNT_LOCKED");
    assert.equal(code(await t.login(u.userId, u.password)), "ACCOUNT_LOCKED", "the right password does not open a locked account");
    assert.equal((await audit("login.lock", u.userId)).length, 1);
    // Identical failures are one audit row with their count.
    assert.equal((await audit("login", u.userId)).filter((e) => e.outcome === "failure").reduce((n, e) => n + e.count, 0), 6);
    // The console's unlock button, with the operator's session and token.
    const opt = await operatorTab();
    const page = await opt.get(`/console/users/${u.userId}`);
    assert.match(page.body, /Locked/);
    const ur = await opt.postForm(`/console/users/${u.userId}/unlock`, { csrf: Browserish.csrf(page) });
    assert.equal(ur.status, 303);
    assert.equal((await audit("login.unlock", u.userId))[0]?.actor, `operator:${OPERATOR_ID}`);
    assert.equal((await t.login(u.userId, u.password)).status, 303);
  });

  test("the initial password expires after 40 days; a reset by the operator mails a new one", async () => {
    const u = await env.enroll("a0000170");
    env.clock.advance(41 * DAY);
    const t = tab(u);
    const r = await t.login(u.userId, u.password);
    assert.equal(code(r), "INITIAL_PASSWORD_EXPIRED");
    assert.match(r.body, /reset/);
    const reset = await opTab.postJson(`/api/v1/users/${u.userId}/password-reset`, {});
    assert.equal(reset.status, 200, reset.body);
    const fresh = (await env.secretsFor(u.email)).password;
    assert.ok(fresh && fresh !== u.password);
    assert.equal(code(await t.login(u.userId, u.password)), "LOGIN_FAILED", "the old initial password is gone");
    assert.equal((await t.login(u.userId, fresh)).status, 303);
  });

  test("password rules: each broken rule is named and nothing changes", async () => {
    const u = await env.enroll("a0000180");
    const t = tab(u);
    await t.login(u.userId, u.password);
    const token = Browserish.csrf(await t.get("/password"));
    const attempt = async (current: string, next: string, confirm = next): Promise<string | undefined> =>
      code(await t.postForm("/password", { csrf: token, current, next, confirm }));
    assert.equal(await attempt(u.password, "short-1"), "PASSWORD_TOO_SHORT");
    assert.equal(await attempt(u.password, `xx-${u.userId}-long-enough`), "PASSWORD_CONTAINS_USER_ID");
    assert.equal(await attempt(u.password, `XX-${u.userId.toUpperCase()}-long-enough`), "PASSWORD_CONTAINS_USER_ID");
    assert.equal(await attempt(u.password, GOOD, `${GOOD}x`), "PASSWORD_CONFIRM_MISMATCH");
    assert.equal(await attempt(u.password, u.password), "PASSWORD_REUSED");
    assert.equal(await attempt(u.password, "x".repeat(300)), "PASSWORD_TOO_LONG");
    assert.equal(await attempt("not-the-password", GOOD), "CURRENT_PASSWORD_WRONG");
    const user = await env.server.services.store.getUser(u.userId);
    assert.equal(user?.passwordInitial, true, "still the initial password");
    // After three changes the current one and the two before it may not come back; the one before those may.
    const seq = ["First-Chosen-Pass-1", "Second-Chosen-Pass-2", "Third-Chosen-Pass-3"];
    let current = u.password;
    for (const next of seq) {
      const form = await t.get("/password");
      const r = await t.postForm("/password", { csrf: Browserish.csrf(form), current, next, confirm: next });
      assert.equal(r.status, 303, code(r));
      current = next;
    }
    const form = await t.get("/password");
    for (const recent of seq) {
      const reuse = await t.postForm("/password", { csrf: Browserish.csrf(form), current, next: recent, confirm: recent });
      assert.equal(code(reuse), "PASSWORD_REUSED", recent);
    }
    const ok = await t.postForm("/password", { csrf: Browserish.csrf(form), current, next: u.password, confirm: u.password });
    assert.equal(ok.status, 303, "the 4th-last password is allowed again (policy: last 3)");
  });
});

describe("operator console and admin API", () => {
  test("a user cannot open the console or the admin API", async () => {
    const u = await env.enroll("a0000200");
    const t = tab(u);
    await t.loginAndChange(u.userId, u.password);
    assert.equal(code(await t.get("/console")), "OPERATOR_ONLY");
    const api = await t.request("GET", "/api/v1/users", undefined, { accept: "application/json" });
    assert.equal(api.status, 403);
    assert.equal((JSON.parse(api.body) as { code: string }).code, "OPERATOR_ONLY");
  });

  test("register through the console: HTML in names is text everywhere; overlong or invalid fields register nothing", async () => {
    const opTab = await operatorTab();
    const page = await opTab.get("/console");
    const csrf = Browserish.csrf(page);
    const r = await opTab.postForm("/console/users", { csrf, userId: "a0000210", email: "x@example.jp", name: "<b>太字</b>", organization: "", lang: "ja" });
    assert.equal(r.status, 303, code(r));
    const list = await opTab.get("/console?q=a0000210");
    assert.match(list.body, /&lt;b&gt;太字&lt;\/b&gt;/);
    assert.doesNotMatch(list.body, /<b>太字/);
    for (const bad of [{ name: "x".repeat(101) }, { email: "not-an-address" }, { userId: "b1" }]) {
      const res = await opTab.postForm("/console/users", { csrf, userId: "a0000211", email: "y@example.jp", name: "Y", lang: "en", ...bad });
      assert.equal(res.status, 400, JSON.stringify(bad));
    }
    assert.equal(await env.server.services.store.getUser("a0000211"), undefined);
    assert.equal(code(await opTab.postForm("/console/users", { csrf, userId: "a0000210", email: "x@example.jp", name: "again", lang: "ja" })), "USER_EXISTS");
    const events = await audit("user.register", "a0000210");
    assert.equal(events[0]?.actor, `operator:${OPERATOR_ID}`);
  });

  test("bulk registration from a Shift_JIS CSV: per-row results, bad rows not registered", async () => {
    const opTab = await operatorTab();
    const page = await opTab.get("/console/bulk");
    // ユーザID,メールアドレス,氏名,組織名 / a0000401 佐藤 花子 髙橋商事㈱ / a0000402 bad e-mail / a0000001 (a duplicate of nothing yet) ; cp932 bytes
    const sjis = Buffer.from(
      "8386815b835549442c8381815b838b83418368838c83582c8e8196bc2c9167904496bc0d0a61303030303430312c7361746f406578616d706c652e6a702c8db293a12089d48e712ceee08bb48fa48e96878a0d0a" +
        "61303030303430322c6e6f742d616e2d616464726573732c97e996d82088ea98592c0d0a61303030303030312c647570406578616d706c652e6a702c8f6495a12091be98592c0d0a",
      "hex",
    );
    await env.server.services.registration.addUser({ userId: "a0000001", email: "first@example.jp", name: "先に登録" }, "operator:test");
    const boundary = "----shomei-test-boundary";
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n${Browserish.csrf(page)}\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="csv"; filename="users.csv"\r\nContent-Type: text/csv\r\n\r\n`),
      sjis,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const r = await opTab.request("POST", "/console/bulk", body, { "content-type": `multipart/form-data; boundary=${boundary}` });
    assert.equal(r.status, 200, code(r));
    assert.match(r.body, /Encoding shift_jis\. Registered: 1; not registered: 2\./);
    assert.match(r.body, /<td>3<\/td><td>a0000402<\/td><td>Not registered: \[EMAIL_INVALID\]/);
    assert.match(r.body, /<td>4<\/td><td>a0000001<\/td><td>Not registered: \[USER_EXISTS\]/);
    const sato = await env.server.services.store.getUser("a0000401");
    assert.equal(sato?.name, "佐藤 花子");
    assert.equal(sato?.organization, "髙橋商事㈱");
    assert.equal(await env.server.services.store.getUser("a0000402"), undefined);
    assert.ok((await env.secretsFor("sato@example.jp")).passcode, "the good row got its mails");
    // Without the token: refused, nothing registered.
    const noCsrf = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="csv"; filename="u.csv"\r\nContent-Type: text/csv\r\n\r\nuser_id,email,name\r\na0000499,z@example.jp,Z\r\n--${boundary}--\r\n`),
    ]);
    const refused = await opTab.request("POST", "/console/bulk", noCsrf, { "content-type": `multipart/form-data; boundary=${boundary}` });
    assert.equal(code(refused), "CSRF_INVALID");
    assert.equal(await env.server.services.store.getUser("a0000499"), undefined);
    // A file in neither UTF-8 nor Shift_JIS.
    const api = await opTab.request("POST", "/api/v1/users/bulk", Buffer.from([0xff, 0xfe, 0x41, 0x00, 0x82]), { "content-type": "text/csv", accept: "application/json" });
    assert.equal(api.status, 400);
    assert.equal((JSON.parse(api.body) as { code: string }).code, "CSV_ENCODING");
  });

  test("admin API: JSON only (the CSRF defence), OpenAPI served, actions audited with the operator", async () => {
    const form = await opTab.postForm("/api/v1/users", { userId: "a0000220", email: "z@example.jp", name: "Z" });
    assert.equal(form.status, 415, "a form post (what a cross-site page can send) is refused");
    assert.equal(await env.server.services.store.getUser("a0000220"), undefined);
    const created = await opTab.postJson("/api/v1/users", { userId: "a0000220", email: "z@example.jp", name: "Z", lang: "en" });
    assert.equal(created.status, 201, created.body);
    const got = await opTab.get("/api/v1/users/a0000220");
    const user = (JSON.parse(got.body) as { user: Record<string, unknown> }).user;
    assert.equal(user.userId, "a0000220");
    assert.equal(user.passwordHash, undefined, "never the hash");
    const badReason = await opTab.postJson(`/api/v1/certificates/${op.serial}/revoke`, { reason: "because" });
    assert.equal((JSON.parse(badReason.body) as { code: string }).code, "REASON_INVALID");
    const doc = await opTab.get("/api/v1/openapi.json");
    assert.equal((JSON.parse(doc.body) as { openapi: string }).openapi, "3.1.0");
    const auditApi = await opTab.get("/api/v1/audit?user=a0000220&event=user.register");
    const events = (JSON.parse(auditApi.body) as { events: { actor: string }[] }).events;
    assert.equal(events[0]?.actor, `operator:${OPERATOR_ID}`);
    const console = await opTab.get("/console/audit?user=a0000220");
    assert.match(console.body, /user\.register/);
  });
});

// Last: it moves the clock past the certificates' expiry.
describe("the user's page", () => {
  test("shows user ID, name, organisation, certificates with the one in use, password age and an expiry notice", async () => {
    const u = await env.enroll("a0000190", { name: "<script>alert(1)</script>山田" });
    const t = tab(u);
    await t.loginAndChange(u.userId, u.password);
    const me = await t.get("/me");
    assert.equal(me.status, 200);
    assert.match(me.body, /<dd>a0000190<\/dd>/);
    assert.match(me.body, /&lt;script&gt;alert\(1\)&lt;\/script&gt;山田/);
    assert.doesNotMatch(me.body, /<script>alert/);
    assert.match(me.body, /テスト株式会社/);
    assert.match(me.body, new RegExp(`${u.serial}</code> <strong>\\(In use now\\)`));
    assert.match(me.body, /Password set on/);
    assert.doesNotMatch(me.body, /expires on/);
    env.clock.advance(340 * DAY);
    const r = await t.login(u.userId, GOOD);
    assert.equal(r.status, 303);
    const later = await t.get("/me");
    // Times as people read them everywhere: the service's zone (Asia/Tokyo by default), named.
    const notAfter = readCertificate(fromPem(u.certPem, "CERTIFICATE")).notAfter;
    assert.ok(later.body.includes(`The certificate you are using expires on ${formatTime(notAfter, "Asia/Tokyo")}`), later.body);
    assert.ok(later.body.includes(`<td>${formatTime(notAfter, "Asia/Tokyo")}</td>`), "the certificate table too");
    assert.doesNotMatch(later.body, /\d{4}-\d\d-\d\dT\d\d|GMT/);
    assert.match(later.body, /\(340 days ago\)/);
    assert.match(later.headers["content-security-policy"] as string, /default-src 'none'/);
    env.clock.advance(30 * DAY);
    const expired = await t.get("/me");
    assert.equal(code(expired), "CERT_EXPIRED");
    assert.ok(expired.body.includes(formatTime(notAfter, "Asia/Tokyo")), `the error page says when, as people read it: ${expired.body}`);
  });
});

describe("the pages are the renderers' bytes (login page made once per language, page context without a second read)", () => {
  test("login page in ja and en, after logout and with a stale cookie: what loginPage renders for the certificate", async () => {
    const u = await env.enroll("a0000195", { name: "<b>&\"'名前" });
    const cfg = env.server.services.config;
    const t = tab(u).keepAlive();
    try {
      const base = (lang: "ja" | "en", path = "/"): PageContext => ({ lang, serviceName: cfg.serviceName, helpdesk: cfg.helpdesk, timeZone: cfg.timeZone, path });
      for (const round of [1, 2]) {
        for (const lang of ["ja", "en"] as const) {
          const r = await t.request("GET", "/", undefined, { "accept-language": lang });
          assert.equal(r.status, 200);
          const csrf = /name="csrf" value="([^"]*)"/.exec(r.body)?.[1] ?? "";
          assert.ok(csrf.length > 20);
          assert.equal(r.body, loginPage({ ...base(lang), csrf }, u.userId, u.serial), `${lang}, round ${round}`);
        }
      }
      // A cookie naming no session: SESSION_ENDED is not shown on "/", the page is the plain one.
      const csrf = /name="csrf" value="([^"]*)"/.exec((await t.get("/")).body)?.[1] ?? "";
      const stale = await t.request("GET", "/", undefined, { "accept-language": "en", cookie: "__Host-shomei_session=bm9uZQ" });
      assert.equal(stale.body, loginPage({ ...base("en"), csrf }, u.userId, u.serial));
      // /me without a session: the login page with SESSION_ENDED, status 401.
      const ended = await t.request("GET", "/me", undefined, { "accept-language": "ja" });
      assert.equal(ended.status, 401);
      assert.equal(ended.body, loginPage({ ...base("ja", "/me"), csrf }, u.userId, u.serial, new ShomeiError("SESSION_ENDED")));
      // Another path (the language switch) and a notice take the full renderer; the same bytes.
      const switched = await t.request("GET", "/?lang=en", undefined, {});
      assert.equal(/name="csrf" value="([^"]*)"/.exec(switched.body)?.[1], csrf, "one token per certificate");
      assert.equal(switched.body, loginPage({ ...base("en"), csrf }, u.userId, u.serial));
      const out = await t.request("GET", "/?done=logout", undefined, { "accept-language": "en" });
      assert.equal(out.body, loginPage({ ...base("en", "/?done=logout"), csrf }, u.userId, u.serial, undefined, P.loggedOut.en));
    } finally {
      t.close();
    }
  });

  test("a multipart body anywhere but the upload page is read as an empty form, as with the plugin's parser there", async () => {
    const u = await env.enroll("a0000301");
    const boundary = "----shomei-test";
    const body = `--${boundary}\r\nContent-Disposition: form-data; name="userId"\r\n\r\n${u.userId}\r\n--${boundary}--\r\n`;
    const r = await tab(u).request("POST", "/login", body, { "content-type": `multipart/form-data; boundary=${boundary}` });
    assert.equal(r.status, 403);
    assert.equal(code(r), "CSRF_INVALID");
    assert.equal((await audit("login", u.userId)).length, 0, "no password was looked at");
  });

  test("every response carries the portal's headers once, set before routing: pages, 404, body errors, the style sheet", async () => {
    const u = await env.enroll("a0000197");
    const t = tab(u).keepAlive();
    try {
      const expect = (r: Response, what: string, over: Record<string, string> = {}): void => {
        for (const [name, value] of Object.entries({ ...PAGE_HEADERS, ...over })) {
          assert.equal(r.headers[name.toLowerCase()], value, `${what}: ${name}`);
        }
        // The raw header list has each name once (not an array of repeats that Node would join).
        for (const name of Object.keys(PAGE_HEADERS)) assert.equal(typeof r.headers[name.toLowerCase()], "string", `${what}: ${name}`);
      };
      expect(await t.get("/"), "login page");
      expect(await t.get("/no-such-page"), "404");
      const bad = await t.request("POST", "/login", "{not json", { "content-type": "application/json" });
      assert.ok(bad.status >= 400, `${bad.status}`);
      expect(bad, "body error");
      expect(await t.get("/static/style.css"), "style sheet", { "Cache-Control": "public, max-age=3600" });
      await t.loginAndChange(u.userId, u.password);
      expect(await t.get("/me"), "user's page");
      // Without a client certificate: the error page, with the same headers.
      expect(await tab().get("/"), "no certificate");
    } finally {
      t.close();
    }
  });

  test("the user's page on a kept-alive connection: what mePage renders from the store's records, request after request", async () => {
    const u = await env.enroll("a0000196", { name: "<i>山田</i> & 'x'" });
    const cfg = env.server.services.config;
    const store = env.server.services.store;
    const t = tab(u).keepAlive();
    try {
      await t.loginAndChange(u.userId, u.password);
      // More rows for the list (read with only the columns it shows): a renewed one expiring later, two revoked with
      // reasons (one with the same expiry, ordered by serial), an expired one.
      const mine = await store.getCertificate(u.serial);
      assert.ok(mine);
      const other = (over: Partial<CertificateRecord>): CertificateRecord =>
        ({ ...mine, serial: randomBytes(16).toString("hex"), fingerprint: randomBytes(32).toString("hex"), ...over });
      const later = other({ notAfter: new Date(mine.notAfter.getTime() + 30 * DAY) });
      const twin = other({});
      const old = other({ notBefore: new Date(mine.notBefore.getTime() - 400 * DAY), notAfter: new Date(mine.notBefore.getTime() - 35 * DAY) });
      const gone = other({ notAfter: new Date(mine.notAfter.getTime() - DAY) });
      for (const c of [later, twin, old, gone]) await store.insertCertificate(c, []);
      await store.revokeCertificate(twin.serial, "keyCompromise", env.clock.now, []);
      await store.revokeCertificate(gone.serial, "superseded", env.clock.now, []);
      // The certificate in use as the portal reads it (its DER taken from the connection, not the row): the record on file.
      assert.deepEqual((await env.server.services.portal.identify(mine.der)).cert, mine);
      for (const lang of ["en", "ja", "en"] as const) {
        const r = await t.request("GET", "/me", undefined, { "accept-language": lang });
        assert.equal(r.status, 200);
        const csrf = /name="csrf" value="([^"]*)"/.exec(r.body)?.[1] ?? "";
        const user = await store.getUser(u.userId);
        const certs = await store.listCertificates(u.userId);
        const current = certs.find((c) => c.serial === u.serial);
        assert.ok(user && current);
        const now = env.clock.now;
        const c: PageContext = { lang, serviceName: cfg.serviceName, helpdesk: cfg.helpdesk, timeZone: cfg.timeZone, path: "/me", user, csrf };
        const expected = mePage(c, {
          user, certificates: certs, current, now, renewOpen: false,
          expiringSoon: current.notAfter.getTime() - now.getTime() <= cfg.portal.expiryNoticeDays * DAY,
          passwordAgeDays: user.passwordSetAt ? Math.floor((now.getTime() - user.passwordSetAt.getTime()) / DAY) : null,
        });
        assert.equal(r.body, expected, lang);
        assert.equal(certs.length, 5);
      }
      // A change to the user shows at the next request on the same connection.
      await store.setStatus(u.userId, "suspended", env.clock.now, []);
      assert.equal(code(await t.get("/me")), "USER_SUSPENDED");
    } finally {
      t.close();
    }
  });
});
