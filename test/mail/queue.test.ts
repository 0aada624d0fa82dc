/**
 * The mail queue and the reminders in process, over real databases (SQLite files and
 * PostgreSQL schemas) and a real SMTP server, with an injectable clock: backoff, two workers
 * never sending one mail twice, and reminders sent once per threshold.
 */
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import pg from "pg";
import { MailQueue } from "../../src/mail/queue.js";
import { MailSealer } from "../../src/mail/seal.js";
import { SmtpTransport } from "../../src/mail/smtp.js";
import { OutboxTransport } from "../../src/mail/outbox.js";
import { ReminderService } from "../../src/registration/reminders.js";
import type { UserRecord } from "../../src/registration/ports.js";
import type { CertificateRecord } from "../../src/ca/ports.js";
import { openStore } from "../../src/store/open.js";
import type { KyselyStore } from "../../src/store/kysely_store.js";
import { tempDir } from "../helpers/ca.js";
import { SMTP_PASSWORD, SMTP_USER, startSmtpServer, type SmtpServer } from "../helpers/smtp_server.js";
import { needs, PG_URL } from "../helpers/tools.js";
import { readdirSync, readFileSync } from "node:fs";
import { readEml } from "../../src/mail/read_eml.js";
import { fileURLToPath } from "node:url";
import { run } from "../helpers/run.js";
import { formatTime } from "../../src/i18n/format.js";

const T0 = new Date("2026-04-01T00:00:00.000Z");
const DAY = 86_400_000;
const SECRET = randomBytes(32);
const FROM = "Shomei <noreply@example.jp>";
const CONTEXT = { serviceName: "テストサービス", serverUrl: "https://ca.example.jp:8443", rootFingerprint: "AA:BB", helpdesk: "helpdesk@example.jp", timeZone: "Asia/Tokyo" };

const stores: KyselyStore[] = [];
const schemas: string[] = [];
after(async () => {
  for (const s of stores) await s.close();
  if (schemas.length) {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    for (const s of schemas) await c.query(`drop schema if exists ${s} cascade`);
    await c.end();
  }
});

async function open(url: string): Promise<KyselyStore> {
  const s = await openStore(url);
  stores.push(s);
  return s;
}

function sqliteUrl(): string {
  return `sqlite:${join(tempDir("shomei-mailq-"), "shomei.db")}`;
}

function pgUrl(): string {
  const schema = `mailq_${randomBytes(6).toString("hex")}`;
  schemas.push(schema);
  return `${PG_URL}?schema=${schema}`;
}

function smtpTransport(server: SmtpServer): SmtpTransport {
  return new SmtpTransport({
    host: "127.0.0.1", port: server.port, security: "starttls", user: SMTP_USER, password: SMTP_PASSWORD,
    ca: readFileSync(server.certFile, "utf8"), connectTimeoutMs: 5000,
  });
}

function queue(store: KyselyStore, transport: SmtpTransport | OutboxTransport, clock: () => Date, maxAttempts = 10): MailQueue {
  return new MailQueue({
    store, transport, sealer: new MailSealer(SECRET), clock, random: () => 0.5,
    policy: { maxAttempts, retryBaseSeconds: 30, retryMaxSeconds: 3600 },
  });
}

const CHILD = fileURLToPath(new URL("../helpers/mail_worker_child.js", import.meta.url));

/** One more instance, in a process of its own (as two servers would be). */
async function child(mode: "deliver" | "remind", url: string, server: SmtpServer, nowMs?: number): Promise<number[]> {
  const job = { mode, url, secretHex: SECRET.toString("hex"), smtp: { port: server.port, certFile: server.certFile, user: SMTP_USER, password: SMTP_PASSWORD }, nowMs };
  const r = await run(process.execPath, [CHILD, JSON.stringify(job)]);
  if (r.code !== 0) throw new Error(`worker process failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as number[];
}

function user(id: string, over: Partial<UserRecord> = {}): UserRecord {
  return {
    userId: id, email: `${id}@example.jp`, name: `利用者 ${id}`, organization: "テスト", lang: "ja", role: "user", status: "active",
    passwordHash: "$argon2id$dummy", passwordInitial: false, passwordSetAt: T0, passwordExpiresAt: null, createdAt: T0,
    failedLogins: 0, lockedAt: null, lastLoginAt: T0, ...over,
  };
}

async function addUser(store: KyselyStore, u: UserRecord): Promise<void> {
  await store.registerUser(u, {
    userId: u.userId, hash: randomBytes(32).toString("hex"), issuedAt: T0, expiresAt: new Date(T0.getTime() + 40 * DAY),
    failedAttempts: 0, status: "active", usedAt: null, csrHash: null, certificateSerial: null,
  }, []);
}

async function addCert(store: KyselyStore, userId: string, notAfter: Date): Promise<CertificateRecord> {
  const c: CertificateRecord = {
    serial: randomBytes(16).toString("hex"), userId, kind: "client", subject: `CN=${userId}`, notBefore: T0, notAfter,
    fingerprint: randomBytes(32).toString("hex"), der: randomBytes(100), status: "valid", csrHash: null, createdAt: T0,
  };
  await store.insertCertificate(c, []);
  return c;
}

/** The text of a queued mail, decrypted and decoded. */
async function queuedText(store: KyselyStore, seq: number): Promise<{ subject: string; text: string }> {
  const m = await store.getQueuedMail(seq);
  assert.ok(m?.body);
  const raw = new MailSealer(SECRET).open(m.body, `${m.kind}\n${m.recipient}`).toString("utf8");
  const body = raw.split("\r\n\r\n")[1] ?? "";
  return { subject: m.subject, text: Buffer.from(body.replace(/\r\n/g, ""), "base64").toString("utf8") };
}

describe("mail queue", { timeout: 120_000 }, () => {
  test("a transient failure backs off: attempts and the delay grow, nothing is sent before it is due, the last attempt fails it", async (t) => {
    if (!(await needs(t, "aiosmtpd", "openssl"))) return;
    const server = await startSmtpServer();
    await server.stop(); // connection refused: transient
    try {
      let now = T0;
      const store = await open(sqliteUrl());
      const q = queue(store, smtpTransport(server), () => now, 4);
      const [seq] = await store.enqueueMails([q.prepare("passcode", null, { to: "x@example.jp", from: FROM, subject: "件名", text: "本文", date: now })], []);
      assert.ok(seq);
      const delays: number[] = [];
      for (let attempt = 1; attempt <= 3; attempt++) {
        const out = await q.deliverDue();
        assert.equal(out.length, 1);
        assert.equal(out[0]?.status, "pending");
        assert.match(out[0]?.error ?? "", /^MAIL_FAILED: /);
        const m = await store.getQueuedMail(seq);
        assert.equal(m?.attempts, attempt);
        delays.push((m?.nextAttemptAt.getTime() ?? 0) - now.getTime());
        assert.deepEqual(await q.deliverDue(), [], "not due yet: nothing is tried");
        now = m?.nextAttemptAt ?? now;
      }
      // base 30 s doubling, with the same jitter (random 0.5 → +5 %).
      assert.deepEqual(delays, [31_500, 63_000, 126_000]);
      const last = await q.deliverDue();
      assert.equal(last[0]?.status, "failed", "maxAttempts reached");
      const m = await store.getQueuedMail(seq);
      assert.equal(m?.status, "failed");
      assert.equal(m?.attempts, 4);
      assert.deepEqual(await q.deliverDue(), []);
      const audit = await store.queryAudit({ event: "mail.retry" });
      assert.equal(audit.length, 3);
      assert.equal(q.retryDelayMs(20), 3_780_000, "capped at retryMaxSeconds (plus jitter)");
    } finally {
      await server.cleanup();
    }
  });

  test("a mail server that cannot be reached is tried once, not once per mail: the others wait untouched; 451 for one recipient does not stop the rest", async (t) => {
    if (!(await needs(t, "aiosmtpd", "openssl"))) return;
    const server = await startSmtpServer();
    const port = server.port;
    await server.stop();
    try {
      let now = T0;
      const store = await open(sqliteUrl());
      const q = queue(store, smtpTransport(server), () => now);
      const mail = (to: string): ReturnType<MailQueue["prepare"]> => q.prepare("passcode", null, { to, from: FROM, subject: "件名", text: "本文", date: now });
      // Six registrations' mails, delivered at once as the desk does (e.g. a bulk upload).
      const seqs = await store.enqueueMails(["a", "b", "c", "d", "e", "f"].map((x) => mail(`${x}@example.jp`)), []);
      const first = await q.deliverNow(seqs, "operator:test");
      assert.deepEqual(first.map((o) => o.status), Array(6).fill("pending"));
      assert.ok(first.every((o) => /^MAIL_FAILED: /.test(o.error ?? "")), "each outcome says why it is queued");
      assert.match(first[1]?.error ?? "", /not tried now, the mail server failed moments ago/);
      const rows = await Promise.all(seqs.map((s) => store.getQueuedMail(s)));
      assert.deepEqual(rows.map((m) => m?.attempts), [1, 0, 0, 0, 0, 0], "only the first was tried");

      // The worker: one server-level failure ends its tick too (the rest would wait for the same timeout).
      now = new Date(T0.getTime() + 120_000);
      const tick = await q.deliverDue();
      assert.equal(tick.length, 1);
      assert.equal(tick[0]?.serverFailure, true);

      // The server is back (same port): the worker delivers everything; a pause is lifted by success.
      await server.start();
      assert.equal(server.port, port);
      now = new Date(T0.getTime() + 3_600_000);
      const done = await q.deliverDue();
      assert.deepEqual(done.map((o) => o.status), Array(6).fill("sent"));
      assert.equal((await server.messages()).length, 6);

      // A refusal of one recipient (451) is about that mail only: the next one is still tried at once.
      server.setRules({ tempfail: ["busy@example.jp"] });
      const more = await store.enqueueMails([mail("busy@example.jp"), mail("free@example.jp")], []);
      const out = await q.deliverNow(more, "operator:test");
      assert.deepEqual(out.map((o) => o.status), ["pending", "sent"]);
      assert.match(out[0]?.error ?? "", /451/);
    } finally {
      await server.cleanup();
    }
  });

  test("the outbox's file names sort in the order the mails were queued, also within one millisecond and when delivered out of order", async () => {
    const store = await open(sqliteUrl());
    const box = tempDir();
    const q = queue(store, new OutboxTransport(box), () => T0);
    // Twelve mails made at the same instant (a registration and a reissued passcode can be): a
    // name by time and random suffix alone would sort them at random.
    const seqs = await store.enqueueMails(Array.from({ length: 12 }, (_, i) => q.prepare("passcode", null, { to: `u${i}@example.jp`, from: FROM, subject: `mail ${i}`, text: "本文", date: T0 })), []);
    const out = await q.deliverNow([...seqs].reverse(), "operator:test");
    assert.deepEqual(out.map((o) => o.status), Array(12).fill("sent"));
    const names = readdirSync(box).filter((n) => n.endsWith(".eml")).sort();
    const subjects = names.map((n) => readEml(readFileSync(join(box, n), "utf8")).subject);
    assert.deepEqual(subjects, Array.from({ length: 12 }, (_, i) => `mail ${i}`), names.join("\n"));
  });

  for (const db of ["SQLite", "PostgreSQL"] as const) {
    test(`two worker processes on one ${db} database never send a mail twice`, async (t) => {
      if (!(await needs(t, "aiosmtpd", "openssl", ...(db === "PostgreSQL" ? ["postgres" as const] : [])))) return;
      const server = await startSmtpServer();
      try {
        const url = db === "SQLite" ? sqliteUrl() : pgUrl();
        const store = await open(url);
        const q = queue(store, smtpTransport(server), () => new Date());
        const N = 12;
        const mails = Array.from({ length: N }, (_, i) => q.prepare("passcode", null, { to: `u${i}@example.jp`, from: FROM, subject: `mail ${i}`, text: `本文 ${i}`, date: new Date() }));
        await store.enqueueMails(mails, []);
        const [a, b] = await Promise.all([child("deliver", url, server), child("deliver", url, server)]);
        const sent = [...a, ...b];
        assert.equal(new Set(sent).size, sent.length, "no mail delivered by both workers");
        assert.equal(sent.length, N);
        const got = (await server.messages()).map((m) => m.subject).sort();
        assert.deepEqual(got, Array.from({ length: N }, (_, i) => `mail ${i}`).sort(), "each mail arrived exactly once");
        const s = await store.mailQueueSummary();
        assert.deepEqual(s.counts, { pending: 0, sent: N, failed: 0 });
      } finally {
        await server.cleanup();
      }
    });
  }
});

describe("reminders", { timeout: 60_000 }, () => {
  const setup = async (url = sqliteUrl()): Promise<{ store: KyselyStore; reminders: (clock: () => Date) => ReminderService }> => {
    const store = await open(url);
    const q = queue(store, new OutboxTransport(tempDir()), () => T0);
    return {
      store,
      reminders: (clock) => new ReminderService({
        store, mail: q, clock, mailContext: CONTEXT, policy: { certificateDays: [30, 10], initialPasswordDays: [7], mailFrom: FROM },
      }),
    };
  };

  test("certificate expiry: nothing at 31 days, one mail at 30, none on a second run, one more at 10; in the user's language", async () => {
    const { store, reminders } = await setup();
    await addUser(store, user("a0000001"));
    const cert = await addCert(store, "a0000001", new Date(T0.getTime() + 365 * DAY));
    const at = (daysBefore: number): ReminderService => reminders(() => new Date(cert.notAfter.getTime() - daysBefore * DAY));
    assert.deepEqual(await at(31).run(), []);
    const first = await at(30).run();
    assert.equal(first.length, 1);
    assert.deepEqual(await at(30).run(), []);
    assert.deepEqual(await at(20).run(), []);
    const second = await at(10).run();
    assert.equal(second.length, 1);
    assert.deepEqual(await at(5).run(), []);
    const m = await queuedText(store, second[0] ?? 0);
    assert.match(m.subject, /クライアント証明書の有効期限が近づいています（残り 10 日）/);
    assert.match(m.text, /^ {3}shomei renew$/m);
    // The expiry as people read it everywhere: the service's zone (Asia/Tokyo here), named.
    assert.match(m.text, new RegExp(`^証明書の有効期限: ${formatTime(cert.notAfter, "Asia/Tokyo")}$`, "m"));
    assert.match(m.text, /^証明書の有効期限: \d{4}-\d\d-\d\d \d\d:\d\d JST$/m);
    assert.match(m.text, /お問い合わせ先: helpdesk@example\.jp/);
    const audit = await store.queryAudit({ event: "reminder.queue" });
    assert.equal(audit.length, 2);
  });

  test("first seen within 10 days: only the 10-day mail; a renewed user (newer certificate) gets none; a revoked one none", async () => {
    const { store, reminders } = await setup();
    const end = new Date(T0.getTime() + 100 * DAY);
    await addUser(store, user("a0000002"));
    await addCert(store, "a0000002", end);
    await addUser(store, user("a0000003"));
    await addCert(store, "a0000003", end);
    await addCert(store, "a0000003", new Date(end.getTime() + 365 * DAY)); // renewed
    await addUser(store, user("a0000004"));
    const revoked = await addCert(store, "a0000004", end);
    await store.revokeCertificate(revoked.serial, "unspecified", T0, []);
    const late = await reminders(() => new Date(end.getTime() - 9 * DAY)).run();
    assert.equal(late.length, 1);
    const m = await store.getQueuedMail(late[0] ?? 0);
    assert.equal(m?.userId, "a0000002");
    assert.match(m?.subject ?? "", /残り 9 日/);
    assert.deepEqual(await reminders(() => new Date(end.getTime() - 5 * DAY)).run(), []);
  });

  test("an unused initial password: one reminder at 7 days, in English for an English user; a used one gets none", async () => {
    const { store, reminders } = await setup();
    const exp = new Date(T0.getTime() + 40 * DAY);
    await addUser(store, user("a0000005", { lang: "en", passwordInitial: true, passwordExpiresAt: exp, lastLoginAt: null }));
    await addUser(store, user("a0000006", { passwordInitial: true, passwordExpiresAt: exp, lastLoginAt: T0 }));
    assert.deepEqual(await reminders(() => new Date(exp.getTime() - 8 * DAY)).run(), []);
    const seqs = await reminders(() => new Date(exp.getTime() - 7 * DAY)).run();
    assert.equal(seqs.length, 1);
    assert.deepEqual(await reminders(() => new Date(exp.getTime() - 3 * DAY)).run(), []);
    const m = await queuedText(store, seqs[0] ?? 0);
    assert.equal(m.subject, "[テストサービス] Your initial password expires in 7 days");
    assert.match(m.text, /^User ID: a0000005$/m);
    assert.doesNotMatch(m.text, /Initial password: /, "the password itself is not repeated");
  });

  for (const db of ["SQLite", "PostgreSQL"] as const) {
    test(`two processes running the reminder job at once on ${db} queue one mail`, async (t) => {
      if (!(await needs(t, "aiosmtpd", "openssl", ...(db === "PostgreSQL" ? ["postgres" as const] : [])))) return;
      const server = await startSmtpServer();
      try {
        const url = db === "SQLite" ? sqliteUrl() : pgUrl();
        const { store } = await setup(url);
        await addUser(store, user("a0000007"));
        const cert = await addCert(store, "a0000007", new Date(T0.getTime() + 365 * DAY));
        const now = cert.notAfter.getTime() - 29 * DAY;
        const runs = await Promise.all([child("remind", url, server, now), child("remind", url, server, now)]);
        assert.equal(runs.flat().length, 1);
        assert.equal((await store.mailQueueSummary()).counts.pending, 1);
      } finally {
        await server.cleanup();
      }
    });
  }
});
