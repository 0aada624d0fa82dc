/**
 * Registration mail through a real SMTP server (aiosmtpd with STARTTLS and AUTH), driven by
 * the real CLI: delivered at once; queued when the server is down and delivered by a running
 * `serve` once it is back; a refused recipient failed for good; bodies never in plain text.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { initCa, serve, type TestCa } from "../helpers/ca.js";
import { shomeiCa } from "../helpers/run.js";
import { REFUSED_RECIPIENT, SMTP_PASSWORD, SMTP_USER, startSmtpServer, trustSmtpCert, type SmtpServer } from "../helpers/smtp_server.js";
import { has, needs } from "../helpers/tools.js";
import { openStore } from "../../src/store/open.js";
import type { MailQueueSummary } from "../../src/registration/ports.js";

const PASSCODE = /^パスコード: ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})$/m;
const ENV = { SHOMEI_SMTP_PASSWORD: SMTP_PASSWORD };

async function status(dir: string): Promise<MailQueueSummary> {
  const r = await shomeiCa(["mail", "status", "--json", "--data", dir]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as MailQueueSummary;
}

describe("registration mail over SMTP (real CLI, real server)", { timeout: 180_000 }, () => {
  let ca: TestCa | undefined;
  let smtp: SmtpServer | undefined;
  before(async () => {
    if (!(await has("aiosmtpd")) || !(await has("openssl"))) return;
    ca = await initCa();
    smtp = await startSmtpServer();
    const file = join(ca.dir, "shomei.json");
    const cfg = JSON.parse(readFileSync(file, "utf8")) as Record<string, Record<string, unknown>>;
    cfg.mail = {
      ...cfg.mail, transport: "smtp", retryBaseSeconds: 1, retryMaxSeconds: 2, pollSeconds: 1,
      smtp: { host: "127.0.0.1", port: smtp.port, security: "starttls", user: SMTP_USER, caFile: trustSmtpCert(smtp, ca.dir) },
    };
    writeFileSync(file, JSON.stringify(cfg, null, 2));
  });
  after(async () => { await smtp?.cleanup(); ca?.cleanup(); });
  const C = (): TestCa => { if (!ca) throw new Error("no CA"); return ca; };
  const S = (): SmtpServer => { if (!smtp) throw new Error("no SMTP server"); return smtp; };

  test("without the SMTP password, user add stops with SMTP_PASSWORD_MISSING and registers nobody", async (t) => {
    if (!(await needs(t, "aiosmtpd", "openssl"))) return;
    const r = await shomeiCa(["user", "add", "a0000100", "--email", "x@example.jp", "--name", "x", "--data", C().dir], { env: { SHOMEI_SMTP_PASSWORD: "" } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /SMTP_PASSWORD_MISSING/);
    assert.match(r.stderr, /SHOMEI_SMTP_PASSWORD/);
    const show = await shomeiCa(["user", "show", "a0000100", "--data", C().dir], { env: ENV });
    assert.match(show.stderr, /USER_NOT_FOUND/);
  });

  test("user add sends both mails over STARTTLS with AUTH: Japanese subject and body intact, passcode line present", async (t) => {
    if (!(await needs(t, "aiosmtpd", "openssl"))) return;
    const r = await shomeiCa(["user", "add", "a0000101", "--email", "taro@example.jp", "--name", "山田 太郎", "--data", C().dir], { env: ENV });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.stdout.match(/^Mail: smtp:\/\/127\.0\.0\.1:\d+ 250/gm) ?? []).length, 2, r.stdout);
    const mails = (await S().messages()).filter((m) => m.to === "taro@example.jp");
    assert.equal(mails.length, 2);
    const [pc, pw] = mails;
    assert.match(pc?.subject ?? "", /^【.+】クライアント証明書取得用パスコードのお知らせ$/);
    assert.match(pc?.from ?? "", /@/);
    assert.match(pc?.body ?? "", /^山田 太郎 様$/m);
    assert.match(pc?.body ?? "", PASSCODE);
    assert.match(pc?.contentType ?? "", /text\/plain; charset=utf-8/i);
    assert.match(pw?.subject ?? "", /初期パスワードのお知らせ$/);
    assert.match(pw?.body ?? "", /^初期パスワード: \S{16}$/m);
    const s = await status(C().dir);
    assert.equal(s.counts.pending, 0);
    assert.ok(s.counts.sent >= 2);
  });

  test("a recipient refused with 550 is failed after one attempt, not retried, and shown by mail status", async (t) => {
    if (!(await needs(t, "aiosmtpd", "openssl"))) return;
    const r = await shomeiCa(["user", "add", "a0000102", "--email", REFUSED_RECIPIENT, "--name", "宛先 不明", "--data", C().dir], { env: ENV });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Registered user a0000102/);
    assert.match(r.stdout, /refused the passcode e-mail \(it will not be retried\)/);
    const s = await status(C().dir);
    const failed = s.open.filter((m) => m.recipient === REFUSED_RECIPIENT);
    assert.equal(failed.length, 2);
    for (const m of failed) {
      assert.equal(m.status, "failed");
      assert.equal(m.attempts, 1);
      assert.match(m.lastError ?? "", /^MAIL_REJECTED: .*550/);
    }
    const text = await shomeiCa(["mail", "status", "--data", C().dir]);
    assert.match(text.stdout, /Failed: 2/);
    assert.match(text.stdout, new RegExp(`\\tfailed\\tpasscode\\t${REFUSED_RECIPIENT}\\t1\\t-\\tMAIL_REJECTED`));
    const again = await shomeiCa(["mail", "retry", "999999", "--data", C().dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /MAIL_NOT_RETRYABLE/);
  });

  test("server down: user add still registers and queues; a running serve delivers once it is back; bodies are gone and were never plain", async (t) => {
    if (!(await needs(t, "aiosmtpd", "openssl"))) return;
    await S().stop();
    const r = await shomeiCa(["user", "add", "a0000103", "--email", "hanako@example.jp", "--name", "佐藤 花子", "--data", C().dir], { env: ENV });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Registered user a0000103/);
    assert.equal((r.stdout.match(/could not be sent yet\. It is queued/g) ?? []).length, 2, r.stdout);
    let s = await status(C().dir);
    const queued = s.open.filter((m) => m.recipient === "hanako@example.jp");
    assert.equal(queued.length, 2);
    // The first was tried and failed; the second was not tried at once (the server had just
    // failed: no second timeout to wait for). Both wait for serve.
    assert.deepEqual(queued.map((m) => m.status), ["pending", "pending"]);
    assert.deepEqual(queued.map((m) => m.attempts).sort(), [0, 1]);
    assert.match(queued.find((m) => m.attempts === 1)?.lastError ?? "", /^MAIL_FAILED: /);
    assert.match(r.stdout, /not tried now, the mail server failed moments ago/);
    assert.ok(s.nextAttempt && s.oldestPending);

    await S().start();
    const prev = process.env.SHOMEI_SMTP_PASSWORD;
    process.env.SHOMEI_SMTP_PASSWORD = SMTP_PASSWORD;
    const served = await serve(C().dir);
    try {
      for (let i = 0; i < 100 && (s = await status(C().dir)).counts.pending > 0; i++) await new Promise((res) => setTimeout(res, 200));
    } finally {
      await served.stop();
      if (prev === undefined) delete process.env.SHOMEI_SMTP_PASSWORD;
      else process.env.SHOMEI_SMTP_PASSWORD = prev;
    }
    assert.equal(s.counts.pending, 0, JSON.stringify(s));
    const mails = (await S().messages()).filter((m) => m.to === "hanako@example.jp");
    assert.equal(mails.length, 2);
    const passcode = PASSCODE.exec(mails.find((m) => PASSCODE.test(m.body))?.body ?? "")?.[1];
    assert.ok(passcode);

    const store = await openStore(`sqlite:${join(C().dir, "shomei.db")}`);
    try {
      for (const m of queued) {
        const row = await store.getQueuedMail(m.seq);
        assert.equal(row?.status, "sent");
        assert.equal(row?.body, null, "the body is dropped once sent");
        assert.ok(row?.sentAt);
      }
      const audit = await store.queryAudit({ userId: "a0000103" });
      assert.ok(audit.some((e) => e.event === "mail.retry" && e.outcome === "failure"));
      assert.equal(audit.filter((e) => e.event === "mail.send" && e.outcome === "success").length, 2);
    } finally {
      await store.close();
    }
    // Neither the database file nor its journal ever held the passcode in plain text.
    for (const f of readdirSync(C().dir).filter((n) => n.startsWith("shomei.db"))) {
      const bytes = readFileSync(join(C().dir, f));
      assert.equal(bytes.includes(passcode), false, f);
      assert.equal(bytes.includes(passcode.replace(/-/g, "")), false, f);
    }
  });
});
