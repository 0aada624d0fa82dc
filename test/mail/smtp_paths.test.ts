/**
 * The SMTP paths cli_smtp.test.ts does not cover, each against a real aiosmtpd and the real CLI
 * (or the real services in process): implicit TLS (port 465 style); the password from a file in
 * the data folder, never shown; a missing or bad caFile refused before anyone is registered; a
 * 451 reply kept pending and delivered exactly once when the server accepts; `mail retry` of a
 * refused mail delivered by a running `serve`; and STARTTLS required but not offered: nothing
 * sent, above all no password in clear.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { initCa, serve, type TestCa } from "../helpers/ca.js";
import { shomeiCa, type RunResult } from "../helpers/run.js";
import { SMTP_PASSWORD, SMTP_USER, startSmtpServer, trustSmtpCert, type SmtpServer } from "../helpers/smtp_server.js";
import { has, needs } from "../helpers/tools.js";
import { openDesk } from "../../src/server/services.js";
import { openStore } from "../../src/store/open.js";
import type { KyselyStore } from "../../src/store/kysely_store.js";
import type { AuditQuery, AuditRecord, MailQueueSummary } from "../../src/registration/ports.js";

const PASSCODE = /^パスコード: ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})$/m;
const ENV = { SHOMEI_SMTP_PASSWORD: SMTP_PASSWORD };
/** Not in the environment at all (run() drops undefined variables). */
const NO_ENV = { SHOMEI_SMTP_PASSWORD: undefined };

async function status(dir: string): Promise<MailQueueSummary> {
  const r = await shomeiCa(["mail", "status", "--json", "--data", dir]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as MailQueueSummary;
}

function mailsTo(s: MailQueueSummary, to: string): MailQueueSummary["open"] {
  return s.open.filter((m) => m.recipient === to);
}

/** Points the CA's config at an SMTP server (replacing mail.smtp whole). */
function configureSmtp(dir: string, smtp: Record<string, unknown>): void {
  const file = join(dir, "shomei.json");
  const cfg = JSON.parse(readFileSync(file, "utf8")) as Record<string, Record<string, unknown>>;
  cfg.mail = { ...cfg.mail, transport: "smtp", retryBaseSeconds: 1, retryMaxSeconds: 2, pollSeconds: 1, smtp };
  writeFileSync(file, JSON.stringify(cfg, null, 2));
}

function addUser(dir: string, id: string, email: string, name: string, env: Record<string, string | undefined> = ENV): Promise<RunResult> {
  return shomeiCa(["user", "add", id, "--email", email, "--name", name, "--data", dir], { env });
}

/** Read straight from the database (with a bad mail setting every desk command stops, as it should). */
async function inStore<T>(dir: string, f: (store: KyselyStore) => Promise<T>): Promise<T> {
  const store = await openStore(`sqlite:${join(dir, "shomei.db")}`);
  try {
    return await f(store);
  } finally {
    await store.close();
  }
}

async function assertNotRegistered(dir: string, id: string): Promise<void> {
  assert.equal(await inStore(dir, (s) => s.getUser(id)), undefined, `${id} must not be registered`);
  assert.equal((await inStore(dir, (s) => s.queryAudit({ userId: id }))).length, 0, `nothing audited for ${id}`);
}

function audit(dir: string, q: AuditQuery = {}): Promise<AuditRecord[]> {
  return inStore(dir, (s) => s.queryAudit(q));
}

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (await check()) return;
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.fail(`gave up waiting: ${what}`);
}

describe("SMTP delivery: the less travelled paths (real CLI, real aiosmtpd)", { timeout: 240_000 }, () => {
  let ca: TestCa | undefined;
  const servers: SmtpServer[] = [];
  before(async () => {
    if (!(await has("aiosmtpd")) || !(await has("openssl"))) return;
    ca = await initCa();
  });
  after(async () => {
    for (const s of servers) await s.cleanup();
    ca?.cleanup();
  });
  const C = (): string => { if (!ca) throw new Error("no CA"); return ca.dir; };
  const smtpServer = async (o: Parameters<typeof startSmtpServer>[0] = {}): Promise<SmtpServer> => {
    const s = await startSmtpServer(o);
    servers.push(s);
    return s;
  };

  test("security tls (implicit TLS, port 465 style): both registration mails delivered over TLS from the first byte, read back intact", async (t) => {
    if (!(await needs(t, "aiosmtpd", "openssl"))) return;
    const smtp = await smtpServer({ tls: "implicit" });
    configureSmtp(C(), { host: "127.0.0.1", port: smtp.port, security: "tls", user: SMTP_USER, caFile: trustSmtpCert(smtp, C()) });
    const r = await addUser(C(), "a0000201", "jiro@example.jp", "鈴木 次郎");
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.stdout.match(/^Mail: smtp:\/\/127\.0\.0\.1:\d+ 250/gm) ?? []).length, 2, r.stdout);
    const mails = (await smtp.messages()).filter((m) => m.to === "jiro@example.jp");
    assert.equal(mails.length, 2);
    const [pc, pw] = mails;
    assert.match(pc?.subject ?? "", /^【.+】クライアント証明書取得用パスコードのお知らせ$/);
    assert.match(pc?.body ?? "", /^鈴木 次郎 様$/m);
    assert.match(pc?.body ?? "", PASSCODE);
    assert.match(pc?.contentType ?? "", /text\/plain; charset=utf-8/i);
    assert.match(pw?.subject ?? "", /初期パスワードのお知らせ$/);
    assert.match(pw?.body ?? "", /^初期パスワード: \S{16}$/m);
    // The server saw the login and both messages on an encrypted connection (it offers no STARTTLS:
    // the connection was TLS from the start).
    const ev = smtp.events();
    assert.equal(ev.filter((e) => e.what === "DATA").length, 2);
    assert.ok(ev.some((e) => e.what === "AUTH"));
    assert.ok(ev.every((e) => e.tls), JSON.stringify(ev));
    const s = mailsTo(await status(C()), "jiro@example.jp");
    assert.deepEqual(s, [], "nothing left open for this recipient");
  });

  test("passwordFile (secrets/smtp-password, no environment variable): a missing file names it and registers nobody; with the file mail is delivered; the password is never shown", async (t) => {
    if (!(await needs(t, "aiosmtpd", "openssl"))) return;
    const smtp = await smtpServer();
    configureSmtp(C(), {
      host: "127.0.0.1", port: smtp.port, security: "starttls", user: SMTP_USER, passwordFile: "secrets/smtp-password", caFile: trustSmtpCert(smtp, C()),
    });
    const pwFile = join(C(), "secrets", "smtp-password");
    rmSync(pwFile, { force: true });

    const missing = await addUser(C(), "a0000202", "saburo@example.jp", "高橋 三郎", NO_ENV);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /SMTP_PASSWORD_MISSING/);
    assert.ok(missing.stderr.includes(pwFile), missing.stderr);
    assert.match(missing.stderr, /SHOMEI_SMTP_PASSWORD/);
    await assertNotRegistered(C(), "a0000202");

    // A wrong password: registered, the mails wait (the server refused the login; the operator fixes the file).
    mkdirSync(join(C(), "secrets"), { recursive: true });
    const WRONG = "wrong-pässword-77";
    writeFileSync(pwFile, `${WRONG}\n`, { mode: 0o600 });
    const refused = await addUser(C(), "a0000203", "shiro@example.jp", "伊藤 四郎", NO_ENV);
    assert.equal(refused.code, 0, refused.stderr);
    const shiro = mailsTo(await status(C()), "shiro@example.jp");
    assert.deepEqual(shiro.map((m) => m.status), ["pending", "pending"]);
    // A refused login is the server's answer to every mail: the second is not tried at once.
    assert.deepEqual(shiro.map((m) => m.attempts).sort(), [0, 1]);
    assert.match(shiro.find((m) => m.attempts === 1)?.lastError ?? "", /^MAIL_FAILED: EAUTH .*535/);

    // The right one, written as `echo password > file` would (the newline is not part of it).
    writeFileSync(pwFile, `${SMTP_PASSWORD}\n`, { mode: 0o600 });
    const r = await addUser(C(), "a0000202", "saburo@example.jp", "高橋 三郎", NO_ENV);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.stdout.match(/^Mail: smtp:\/\/127\.0\.0\.1:\d+ 250/gm) ?? []).length, 2, r.stdout);
    const mails = (await smtp.messages()).filter((m) => m.to === "saburo@example.jp");
    assert.equal(mails.length, 2);
    assert.match(mails[0]?.body ?? "", PASSCODE);
    assert.ok(smtp.events().filter((e) => e.what === "AUTH").every((e) => e.tls));

    // Neither password, nor its base64 form (what AUTH carries), anywhere an operator looks.
    const secrets = [SMTP_PASSWORD, WRONG].flatMap((p) => [p, Buffer.from(p).toString("base64"), Buffer.from(`\0${SMTP_USER}\0${p}`).toString("base64")]);
    const shown = [
      (await shomeiCa(["mail", "status", "--data", C()])).stdout,
      (await shomeiCa(["mail", "status", "--json", "--data", C()])).stdout,
      JSON.stringify(await audit(C(), { limit: 1000 })),
      missing.stdout + missing.stderr + refused.stdout + refused.stderr + r.stdout + r.stderr,
    ].join("\n");
    assert.match(shown, /EAUTH/, "the failed login is visible…");
    for (const p of secrets) assert.equal(shown.includes(p), false, "…but not the password");
    for (const f of readdirSync(C()).filter((n) => n.startsWith("shomei.db"))) {
      const bytes = readFileSync(join(C(), f));
      for (const p of secrets) assert.equal(bytes.includes(p), false, f);
    }
  });

  test("caFile missing, a folder, or no certificate: CONFIG_INVALID naming mail.smtp.caFile, before anyone is registered", async (t) => {
    if (!(await needs(t, "aiosmtpd", "openssl"))) return;
    const smtp = await smtpServer();
    writeFileSync(join(C(), "not-a-cert.pem"), "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
    writeFileSync(join(C(), "empty.pem"), "");
    mkdirSync(join(C(), "a-folder"), { recursive: true });
    const cases = [["no-such-ca.pem", /ENOENT/], ["a-folder", /EISDIR/], ["not-a-cert.pem", /no readable PEM certificate/], ["empty.pem", /no readable PEM certificate/]] as const;
    for (const [i, [caFile, why]] of cases.entries()) {
      configureSmtp(C(), { host: "127.0.0.1", port: smtp.port, security: "starttls", user: SMTP_USER, caFile });
      const id = `a000021${i}`;
      const r = await addUser(C(), id, `${id}@example.jp`, "渡辺 五郎");
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, /CONFIG_INVALID/);
      assert.match(r.stderr, /mail\.smtp\.caFile/);
      assert.ok(r.stderr.includes(join(C(), caFile)), r.stderr);
      assert.match(r.stderr, why);
      await assertNotRegistered(C(), id);
    }
    // The Japanese message names the setting too.
    const ja = await shomeiCa(["user", "add", "a0000219", "--email", "x@example.jp", "--name", "x", "--data", C()], { env: { ...ENV, LANG: "ja_JP.UTF-8" } });
    assert.equal(ja.code, 1);
    assert.match(ja.stderr, /設定ファイル .* が正しくありません: mail\.smtp\.caFile/);
    assert.equal(smtp.events().length, 0, "the server was never contacted");
    // What sends nothing still works, so the operator can look around while fixing the setting;
    // serve, which delivers mail, refuses to start with the same message.
    const list = await shomeiCa(["user", "list", "--data", C()], { env: ENV });
    assert.equal(list.code, 0, list.stderr);
    const served = await shomeiCa(["serve", "--data", C(), "--port", "0"], { env: ENV, timeoutMs: 30_000 });
    assert.equal(served.code, 1, served.stdout);
    assert.match(served.stderr, /CONFIG_INVALID.*mail\.smtp\.caFile/s);
    assert.doesNotMatch(served.stdout, /^EST: /m);
  });

  test("a 451 reply keeps the mail pending with attempts growing and the 451 shown; once the server accepts, each mail is delivered exactly once", async (t) => {
    if (!(await needs(t, "aiosmtpd", "openssl"))) return;
    const smtp = await smtpServer();
    configureSmtp(C(), { host: "127.0.0.1", port: smtp.port, security: "starttls", user: SMTP_USER, caFile: trustSmtpCert(smtp, C()) });
    const TO = "rokuro@example.jp";
    smtp.setRules({ tempfail: [TO] });
    const r = await addUser(C(), "a0000220", TO, "小林 六郎");
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.stdout.match(/could not be sent yet\. It is queued/g) ?? []).length, 2, r.stdout);
    let open = mailsTo(await status(C()), TO);
    assert.equal(open.length, 2);
    for (const m of open) {
      assert.equal(m.status, "pending");
      assert.equal(m.attempts, 1);
      assert.match(m.lastError ?? "", /^MAIL_FAILED: .*451 4\.3\.0/);
    }
    const text = await shomeiCa(["mail", "status", "--data", C()]);
    assert.match(text.stdout, new RegExp(`\\tpending\\tpasscode\\t${TO}\\t1\\t.+\\tMAIL_FAILED: .*451`));

    // The worker's own code (the real services, in process), with the clock moved past each retry time.
    let offset = 0;
    const desk = await openDesk(C(), { clock: () => new Date(Date.now() + offset), env: ENV });
    try {
      offset += 10_000;
      const second = (await desk.mail.deliverDue()).filter((o) => open.some((m) => m.seq === o.seq));
      assert.deepEqual(second.map((o) => o.status), ["pending", "pending"]);
      open = mailsTo(await status(C()), TO);
      assert.deepEqual(open.map((m) => m.attempts), [2, 2]);
      for (const m of open) assert.match(m.lastError ?? "", /451/);
      assert.equal((await smtp.messages()).filter((m) => m.to === TO).length, 0);

      smtp.setRules({});
      offset += 10_000;
      const third = (await desk.mail.deliverDue()).filter((o) => open.some((m) => m.seq === o.seq));
      assert.deepEqual(third.map((o) => o.status), ["sent", "sent"]);
      offset += 3_600_000;
      assert.deepEqual(await desk.mail.deliverDue(), [], "nothing is sent again");
    } finally {
      await desk.close();
    }
    assert.deepEqual(mailsTo(await status(C()), TO), []);
    const got = (await smtp.messages()).filter((m) => m.to === TO);
    assert.equal(got.length, 2, "each mail exactly once");
    assert.equal(got.filter((m) => PASSCODE.test(m.body)).length, 1);
    const rcpt = smtp.events().filter((e) => e.what === "RCPT" && e.to === TO).map((e) => e.what === "RCPT" ? e.code : 0);
    assert.deepEqual(rcpt, [451, 451, 451, 451, 250, 250]);
    const events = await audit(C(), { userId: "a0000220" });
    assert.equal(events.filter((e) => e.event === "mail.retry" && e.outcome === "failure").length, 4);
    assert.equal(events.filter((e) => e.event === "mail.send" && e.outcome === "success").length, 2);
    assert.ok(events.filter((e) => e.event === "mail.retry").every((e) => String(e.detail?.reason).includes("451")));
  });

  test("mail retry SEQ: a mail refused with 550 is sent by a running serve once the recipient exists; only that mail; audited as mail.requeue", async (t) => {
    if (!(await needs(t, "aiosmtpd", "openssl"))) return;
    const smtp = await smtpServer();
    // serve reads the password from the file here (the test process has no SHOMEI_SMTP_PASSWORD).
    mkdirSync(join(C(), "secrets"), { recursive: true });
    writeFileSync(join(C(), "secrets", "smtp-password"), SMTP_PASSWORD, { mode: 0o600 });
    configureSmtp(C(), {
      host: "127.0.0.1", port: smtp.port, security: "starttls", user: SMTP_USER, passwordFile: "secrets/smtp-password", caFile: trustSmtpCert(smtp, C()),
    });
    const TO = "nanako@example.jp";
    smtp.setRules({ reject: [TO] });
    const r = await addUser(C(), "a0000230", TO, "加藤 七子", NO_ENV);
    assert.equal(r.code, 0, r.stderr);
    const failed = mailsTo(await status(C()), TO);
    assert.deepEqual(failed.map((m) => m.status), ["failed", "failed"]);
    for (const m of failed) assert.match(m.lastError ?? "", /^MAIL_REJECTED: .*550/);
    const passcodeMail = failed.find((m) => m.kind === "passcode");
    const other = failed.find((m) => m.kind !== "passcode");
    assert.ok(passcodeMail && other);

    smtp.setRules({}); // the mailbox now exists
    assert.equal(process.env.SHOMEI_SMTP_PASSWORD, undefined);
    const served = await serve(C());
    try {
      const again = await shomeiCa(["mail", "retry", String(passcodeMail.seq), "--data", C()]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, new RegExp(`Mail ${passcodeMail.seq} is queued again`));
      await waitFor("the retried mail is sent", async () => mailsTo(await status(C()), TO).every((m) => m.seq !== passcodeMail.seq));
    } finally {
      await served.stop();
    }
    const left = mailsTo(await status(C()), TO);
    assert.deepEqual(left.map((m) => [m.seq, m.status]), [[other.seq, "failed"]], "the mail not retried stays failed");
    const got = (await smtp.messages()).filter((m) => m.to === TO);
    assert.equal(got.length, 1);
    assert.match(got[0]?.body ?? "", PASSCODE);
    assert.match(got[0]?.body ?? "", /^加藤 七子 様$/m);

    const store = await openStore(`sqlite:${join(C(), "shomei.db")}`);
    try {
      const row = await store.getQueuedMail(passcodeMail.seq);
      assert.equal(row?.status, "sent");
      assert.equal(row?.body, null);
      const requeue = await store.queryAudit({ event: "mail.requeue" });
      assert.ok(requeue.some((e) => e.outcome === "success" && e.detail?.seq === passcodeMail.seq), JSON.stringify(requeue));
      // queryAudit lists the newest first.
      const sends = (await store.queryAudit({ userId: "a0000230", event: "mail.send" })).filter((e) => e.detail?.seq === passcodeMail.seq);
      assert.deepEqual(sends.map((e) => e.outcome), ["success", "failure"]);
    } finally {
      await store.close();
    }
    // A sent mail has no body left to send again.
    const twice = await shomeiCa(["mail", "retry", String(passcodeMail.seq), "--data", C()]);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /MAIL_NOT_RETRYABLE/);
  });

  test("security starttls against a server that offers no STARTTLS: nothing is sent in clear, no AUTH reaches the server, the mail waits with a reason naming TLS", async (t) => {
    if (!(await needs(t, "aiosmtpd", "openssl"))) return;
    // A badly set-up server: no TLS at all, but AUTH offered in clear.
    const smtp = await smtpServer({ tls: false, auth: true });
    configureSmtp(C(), { host: "127.0.0.1", port: smtp.port, security: "starttls", user: SMTP_USER });
    const TO = "hachiro@example.jp";
    const r = await addUser(C(), "a0000240", TO, "山本 八郎");
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.stdout.match(/could not be sent yet\. It is queued/g) ?? []).length, 2, r.stdout);
    assert.match(r.stdout, /STARTTLS/);
    const open = mailsTo(await status(C()), TO);
    assert.equal(open.length, 2);
    assert.deepEqual(open.map((m) => m.status), ["pending", "pending"]);
    assert.match(open.find((m) => m.attempts === 1)?.lastError ?? "", /^MAIL_FAILED: ETLS .*STARTTLS.*454/);
    assert.deepEqual(smtp.events(), [], "no AUTH, no RCPT, no DATA reached the server");
    assert.equal((await smtp.messages()).length, 0);

    // The control: told security "none", the same server gets the login in clear — what the check above would have seen.
    configureSmtp(C(), { host: "127.0.0.1", port: smtp.port, security: "none", user: SMTP_USER });
    const clear = await addUser(C(), "a0000241", "kuro@example.jp", "中村 九郎");
    assert.equal(clear.code, 0, clear.stderr);
    assert.deepEqual(smtp.events().filter((e) => e.what === "AUTH"), [{ what: "AUTH", tls: false }, { what: "AUTH", tls: false }]);
    assert.equal((await smtp.messages()).filter((m) => m.to === "kuro@example.jp").length, 2);
    assert.equal((await smtp.messages()).filter((m) => m.to === TO).length, 0, "the mails held back for TLS are not among them");
  });
});
