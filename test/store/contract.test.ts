/**
 * The storage contract: one suite, run against SQLite (a real file) and PostgreSQL (the
 * server on 127.0.0.1:5432, each run in a schema of its own). What the domain relies on.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { openStore } from "../../src/store/open.js";
import type { KyselyStore } from "../../src/store/kysely_store.js";
import type { CertificateRecord } from "../../src/ca/ports.js";
import type { PasscodeRecord, UserRecord } from "../../src/registration/ports.js";
import { isShomeiError } from "../../src/i18n/errors.js";
import { invalidUserIdMarker } from "../../src/registration/audit_input.js";
import { tempDir } from "../helpers/ca.js";
import { needs, testSchema } from "../helpers/tools.js";
import { verifyPrepared } from "../../src/store/prepared.js";

// Every query compiled once (store/prepared.ts) is also built and compiled by Kysely on each
// call here, and must come out the same: SQL text and parameters.
verifyPrepared(true);

const T0 = new Date("2026-04-01T00:00:00.000Z");
const MIN = 60_000;
const DAY = 86_400_000;

function user(id: string, over: Partial<UserRecord> = {}): UserRecord {
  return {
    userId: id, email: `${id}@example.jp`, name: `名前 ${id}`, organization: "テスト株式会社", lang: "ja", role: "user",
    status: "active", passwordHash: "$argon2id$dummy", passwordInitial: true, passwordSetAt: T0,
    passwordExpiresAt: new Date(T0.getTime() + 40 * DAY), createdAt: T0, failedLogins: 0, lockedAt: null,
    lastLoginAt: null, ...over,
  };
}

function passcode(id: string, hash = "aa".repeat(32), over: Partial<PasscodeRecord> = {}): PasscodeRecord {
  return {
    userId: id, hash, issuedAt: T0, expiresAt: new Date(T0.getTime() + 40 * DAY), failedAttempts: 0, status: "active",
    usedAt: null, csrHash: null, certificateSerial: null, ...over,
  };
}

function cert(id: string, over: Partial<CertificateRecord> = {}): CertificateRecord {
  const serial = randomBytes(16).toString("hex");
  return {
    serial, userId: id, kind: "client", subject: `CN=${id}`, notBefore: T0, notAfter: new Date(T0.getTime() + 365 * DAY),
    fingerprint: randomBytes(32).toString("hex"), der: randomBytes(300), status: "valid", csrHash: "c1".repeat(32),
    createdAt: T0, ...over,
  };
}

function withoutDer(c: CertificateRecord): Omit<CertificateRecord, "der"> {
  const { der: _der, ...rest } = c;
  return rest;
}

function contract(name: string, open: () => Promise<KyselyStore | undefined>, cleanup: () => Promise<void>): void {
  describe(`storage contract: ${name}`, () => {
    let s: KyselyStore | undefined;
    before(async () => { s = await open(); });
    after(async () => { await s?.close(); await cleanup(); });
    const store = (): KyselyStore => {
      if (!s) throw new Error("store not open");
      return s;
    };

    test("a user with a passcode round-trips; a second registration of the ID is USER_EXISTS and changes nothing", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      await store().registerUser(user("a0000001"), passcode("a0000001"), [
        { at: T0, actor: "operator:test", event: "user.register", userId: "a0000001", outcome: "success", detail: { email: "x" } },
      ]);
      const u = await store().getUser("a0000001");
      assert.equal(u?.name, "名前 a0000001");
      assert.equal(u?.passwordInitial, true);
      assert.equal(u?.passwordExpiresAt?.toISOString(), new Date(T0.getTime() + 40 * DAY).toISOString());
      await assert.rejects(store().registerUser(user("a0000001", { name: "other" }), passcode("a0000001"), []),
        (e) => isShomeiError(e) && e.code === "USER_EXISTS");
      assert.equal((await store().getUser("a0000001"))?.name, "名前 a0000001");
      assert.equal((await store().queryAudit({ userId: "a0000001" })).length, 1);
      assert.equal(await store().getUser("a0000404"), undefined);
    });

    test("wrong passcode tries are counted and void the passcode at the limit", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      await store().registerUser(user("a0000002"), passcode("a0000002"), []);
      for (let i = 1; i <= 4; i++) {
        const r = await store().recordPasscodeFailure("a0000002", 5, []);
        assert.deepEqual(r, { attempts: i, voided: false });
      }
      assert.deepEqual(await store().recordPasscodeFailure("a0000002", 5, []), { attempts: 5, voided: true });
      assert.equal((await store().getPasscode("a0000002"))?.status, "void");
      // A void passcode cannot be redeemed.
      const r = await store().redeemPasscode({ userId: "a0000002", passcodeHash: "aa".repeat(32), csrHash: "x", now: T0, replayWindowMs: 10 * MIN, certificate: cert("a0000002"), audit: [] });
      assert.equal(r.outcome, "rejected");
      // Reissue replaces it with a fresh one.
      await store().replacePasscode(passcode("a0000002", "bb".repeat(32)), []);
      const p = await store().getPasscode("a0000002");
      assert.equal(p?.status, "active");
      assert.equal(p?.failedAttempts, 0);
    });

    test("redeeming: issued once, the same CSR within the window replays, anything else is rejected", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      await store().registerUser(user("a0000003"), passcode("a0000003"), []);
      const c = cert("a0000003", { csrHash: "c1".repeat(32) });
      const req = { userId: "a0000003", passcodeHash: "aa".repeat(32), csrHash: "c1".repeat(32), now: T0, replayWindowMs: 10 * MIN, audit: [] };
      const first = await store().redeemPasscode({ ...req, certificate: c, audit: [{ at: T0, actor: "user:a0000003", event: "certificate.issue", userId: "a0000003", outcome: "success" }] });
      assert.equal(first.outcome, "issued");
      const again = await store().redeemPasscode({ ...req, now: new Date(T0.getTime() + 9 * MIN), certificate: cert("a0000003") });
      assert.equal(again.outcome, "replay");
      assert.equal(again.outcome === "replay" && again.certificate.serial, c.serial);
      assert.deepEqual(again.outcome === "replay" && again.certificate.der, c.der);
      const late = await store().redeemPasscode({ ...req, now: new Date(T0.getTime() + 11 * MIN), certificate: cert("a0000003") });
      assert.equal(late.outcome, "rejected");
      const otherCsr = await store().redeemPasscode({ ...req, csrHash: "c2".repeat(32), certificate: cert("a0000003") });
      assert.equal(otherCsr.outcome, "rejected");
      assert.equal((await store().listCertificates("a0000003")).length, 1);
      assert.equal((await store().getCertificate(c.serial))?.fingerprint, c.fingerprint);
      assert.equal((await store().queryAudit({ userId: "a0000003", event: "certificate.issue" })).length, 1);
    });

    test("an expired passcode is rejected", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      await store().registerUser(user("a0000004"), passcode("a0000004", "aa".repeat(32), { expiresAt: new Date(T0.getTime() + DAY) }), []);
      const r = await store().redeemPasscode({ userId: "a0000004", passcodeHash: "aa".repeat(32), csrHash: "x", now: new Date(T0.getTime() + DAY), replayWindowMs: 0, certificate: cert("a0000004"), audit: [] });
      assert.equal(r.outcome, "rejected");
      assert.equal((await store().listCertificates("a0000004")).length, 0);
    });

    test("50 concurrent redemptions of one passcode with different CSRs record exactly one certificate", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      await store().registerUser(user("a0000005"), passcode("a0000005"), []);
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store().redeemPasscode({
        userId: "a0000005", passcodeHash: "aa".repeat(32), csrHash: i.toString(16).padStart(64, "0"), now: T0, replayWindowMs: 10 * MIN,
        certificate: cert("a0000005"), audit: [],
      })));
      assert.equal(results.filter((r) => r.outcome === "issued").length, 1);
      assert.equal(results.filter((r) => r.outcome === "rejected").length, 49);
      assert.equal((await store().listCertificates("a0000005")).length, 1);
    });

    test("10 concurrent redemptions with the same CSR all get the one certificate", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      await store().registerUser(user("a0000006"), passcode("a0000006"), []);
      const results = await Promise.all(Array.from({ length: 10 }, () => store().redeemPasscode({
        userId: "a0000006", passcodeHash: "aa".repeat(32), csrHash: "c9".repeat(32), now: T0, replayWindowMs: 10 * MIN,
        certificate: cert("a0000006", { csrHash: "c9".repeat(32) }), audit: [],
      })));
      const serials = new Set(results.map((r) => (r.outcome === "rejected" ? "rejected" : r.certificate.serial)));
      assert.equal(serials.size, 1);
      assert.ok(!serials.has("rejected"));
      assert.equal(results.filter((r) => r.outcome === "issued").length, 1);
    });

    test("concurrent redemptions for different users: a failing one changes nothing and does not undo the others", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      const ids = ["a0000011", "a0000012", "a0000013", "a0000014"];
      for (const id of ids) await store().registerUser(user(id), passcode(id), []);
      const taken = cert("a0000011");
      await store().insertCertificate(taken, []);
      const results = await Promise.allSettled(ids.map((id, i) => store().redeemPasscode({
        userId: id, passcodeHash: "aa".repeat(32), csrHash: "c3".repeat(32), now: T0, replayWindowMs: 10 * MIN,
        // The third request collides with an existing serial: its transaction part must fail alone.
        certificate: i === 2 ? { ...cert(id), serial: taken.serial } : cert(id), audit: [],
      })));
      assert.deepEqual(results.map((r) => r.status), ["fulfilled", "fulfilled", "rejected", "fulfilled"]);
      assert.equal((await store().getPasscode("a0000013"))?.status, "active", "the failed redemption left its passcode unused");
      for (const id of ["a0000011", "a0000012", "a0000014"]) assert.equal((await store().getPasscode(id))?.status, "used");
      assert.equal((await store().listCertificates("a0000013")).length, 0);
    });

    test("certificates expiring in a window are queryable (for reminders), revoked ones are not", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      await store().registerUser(user("a0000007"), passcode("a0000007"), []);
      const soon = cert("a0000007", { notAfter: new Date(T0.getTime() + 20 * DAY) });
      const later = cert("a0000007", { notAfter: new Date(T0.getTime() + 200 * DAY) });
      await store().insertCertificate(soon, []);
      await store().insertCertificate(later, []);
      const found = await store().listExpiring(T0, new Date(T0.getTime() + 30 * DAY));
      assert.ok(found.some((c) => c.serial === soon.serial));
      assert.ok(!found.some((c) => c.serial === later.serial));
      const mine = await store().listCertificates("a0000007");
      assert.deepEqual(mine.map((c) => c.serial), [later.serial, soon.serial]);
    });

    test("the audit log filters by user, event and time, newest first", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      const at = (m: number): Date => new Date(T0.getTime() + m * MIN);
      await store().audit([
        { at: at(1), actor: "system", event: "x.one", userId: "a0000008", outcome: "success", detail: { n: 1 } },
        { at: at(2), actor: "system", event: "x.two", userId: "a0000008", outcome: "failure", detail: { n: 2 } },
        { at: at(3), actor: "system", event: "x.one", userId: "a0000009", outcome: "success" },
      ]);
      const byUser = await store().queryAudit({ userId: "a0000008" });
      assert.deepEqual(byUser.map((e) => e.event), ["x.two", "x.one"]);
      assert.equal(byUser[0]?.outcome, "failure");
      assert.deepEqual(byUser[0]?.detail, { n: 2 });
      assert.equal((await store().queryAudit({ event: "x.one" })).length, 2);
      assert.equal((await store().queryAudit({ event: "x.one", since: at(2) })).length, 1);
      assert.equal((await store().queryAudit({ event: "x.one", until: at(2) })).length, 1);
    });

    test("identical audit events in one window are one row with their count, whichever instance writes them", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      // A second store on the same database stands for another process (its own connections).
      const other = await open();
      if (!other) throw new Error("second store not open");
      try {
        const ev = (sec: number, detail: Record<string, string> = { serial: "ab12", remote: "127.0.0.1" }) => ({
          at: new Date(T0.getTime() + sec * 1000), actor: "user:a0000031", event: "enroll.replay", userId: "a0000031", outcome: "success" as const, detail,
        });
        if (store().dialect === "postgres") {
          await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? store() : other).audit([ev(i + 1)])));
        } else {
          // better-sqlite3 is synchronous: two stores in one process would block each other's
          // commit while waiting for the lock, so here the two take turns, 10 parallel writes each.
          for (let b = 0; b < 10; b++) {
            const writer = b % 2 === 0 ? store() : other;
            await Promise.all(Array.from({ length: 10 }, (_, j) => writer.audit([ev(b * 10 + j + 1)])));
          }
        }
        await store().audit([ev(200), ev(201), ev(150)]);
        await other.audit([ev(202, { serial: "ab12", remote: "192.0.2.1" })]);
        await store().audit([ev(10 * 60 + 1)]);
        const rows = await store().queryAudit({ userId: "a0000031", event: "enroll.replay" });
        const burst = rows.find((r) => r.detail?.remote === "127.0.0.1" && r.at.getTime() < T0.getTime() + 10 * MIN);
        assert.equal(burst?.count, 103, "100 parallel writes from two instances and 3 in one batch");
        assert.equal(burst.at.toISOString(), ev(1).at.toISOString(), "at is the first");
        assert.equal(burst.lastAt.toISOString(), ev(201).at.toISOString(), "lastAt is the last");
        assert.equal(rows.length, 3, "another detail, and the next window, are rows of their own");
        assert.deepEqual(rows.map((r) => r.count).sort((a, b) => a - b), [1, 1, 103]);
        const late = await store().queryAudit({ userId: "a0000031", event: "enroll.replay", since: ev(190).at, until: ev(300).at });
        assert.equal(late.length, 2, "a row of repeats is found by its last time too");
      } finally {
        await other.close();
      }
    });

    test("audit events marked once are rows of their own without a repeat key; unmarked identical events still fold", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      const ev = (sec: number, once: boolean) => ({
        at: new Date(T0.getTime() + sec * 1000), actor: "user:a0000033", event: "certificate.issue", userId: "a0000033", outcome: "success" as const,
        detail: { serial: "0f0e", notAfter: "2027-04-01T00:00:00.000Z" }, ...(once ? { once: true as const } : {}),
      });
      // Identical on purpose (a real `once` event names a new serial): nothing folds them, in one write or in two.
      await store().audit([ev(1, true), ev(1, true)]);
      await store().audit([ev(2, true), ev(3, false), ev(4, false)]);
      await store().audit([ev(5, false)]);
      const rows = await store().queryAudit({ userId: "a0000033" });
      assert.deepEqual(rows.map((r) => [r.at.getTime() - T0.getTime(), r.count]).sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0)), [[1000, 1], [1000, 1], [2000, 1], [3000, 3]]);
      for (const r of rows) assert.deepEqual(r.detail, { serial: "0f0e", notAfter: "2027-04-01T00:00:00.000Z" });
      const keys = await store().db.selectFrom("audit_log").select(["count", "repeat_key"]).where("user_id", "=", "a0000033").orderBy("id").execute();
      assert.deepEqual(keys.map((k) => [Number(k.count), k.repeat_key === null]), [[1, true], [1, true], [1, true], [3, false]]);
    });

    test("audit input is bounded: a user ID that is not one becomes a marker, text is capped and escaped", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      const hostile = `a0000032\u202E\u0000${"x".repeat(7990)}`;
      const detail: Record<string, string> = { requestedSubject: `CN=${"y".repeat(40_000)}\u202Egnp.exe`, typed: hostile };
      for (let i = 0; i < 30; i++) detail[`k${i}`] = "v";
      await store().audit([{ at: T0, actor: `user:${hostile}`, event: "passcode.failure", userId: hostile, outcome: "failure", detail }]);
      const [row] = await store().queryAudit({ event: "passcode.failure", userId: invalidUserIdMarker(hostile) });
      assert.ok(row, "found by the marker");
      assert.match(row.userId ?? "", /^invalid:[0-9a-f]{12}$/);
      assert.equal(row.actor, `user:${row.userId}`);
      assert.equal(row.detail?.typed, row.userId);
      const subject = String(row.detail?.requestedSubject);
      assert.ok(subject.length <= 200, `capped: ${subject.length}`);
      assert.match(subject, /^CN=y+…\[\+\d+\]$/);
      assert.equal(Object.keys(row.detail ?? {}).length, 17, "16 keys and the count of the rest");
      const texts = [row.userId ?? "", row.actor, ...Object.values(row.detail ?? {}).map(String)].join("|");
      assert.ok(!texts.includes("\u202E") && !texts.includes("\u0000"), "no raw RTL override or NUL");
      assert.ok(texts.length < 1500, `bounded: ${texts.length}`);
    });

    test("passwords can be replaced; an unknown user is USER_NOT_FOUND", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      await store().registerUser(user("a0000010"), passcode("a0000010"), []);
      await store().setPassword("a0000010", "$argon2id$new", false, at2(), null, []);
      const u = await store().getUser("a0000010");
      assert.equal(u?.passwordHash, "$argon2id$new");
      assert.equal(u?.passwordInitial, false);
      assert.equal(u?.passwordExpiresAt, null);
      await assert.rejects(store().setPassword("a0404040", "h", false, T0, null, []), (e) => isShomeiError(e) && e.code === "USER_NOT_FOUND");
      function at2(): Date { return new Date(T0.getTime() + DAY); }
    });

    test("portal: failed logins count and lock once at the limit; success and unlock clear them", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      await store().registerUser(user("a0000020"), passcode("a0000020"), []);
      const ev = { at: T0, actor: "user:a0000020", event: "login", userId: "a0000020", outcome: "failure" as const };
      for (let i = 1; i <= 2; i++) assert.deepEqual(await store().recordLoginFailure("a0000020", 3, new Date(T0.getTime() + i * MIN), [ev]), { failures: i, locked: false });
      assert.deepEqual(await store().recordLoginFailure("a0000020", 3, new Date(T0.getTime() + 3 * MIN), [ev]), { failures: 3, locked: true });
      assert.deepEqual(await store().recordLoginFailure("a0000020", 3, new Date(T0.getTime() + 4 * MIN), [ev]), { failures: 4, locked: false }, "locked once");
      assert.equal((await store().getUser("a0000020"))?.lockedAt?.toISOString(), new Date(T0.getTime() + 3 * MIN).toISOString());
      assert.equal((await store().queryAudit({ userId: "a0000020", event: "login.lock" })).length, 1);
      await store().unlock("a0000020", T0, []);
      const u = await store().getUser("a0000020");
      assert.equal(u?.lockedAt, null);
      assert.equal(u?.failedLogins, 0);
      await store().recordLoginFailure("a0000020", 3, T0, [ev]);
      await store().recordLoginSuccess("a0000020", T0, []);
      assert.equal((await store().getUser("a0000020"))?.failedLogins, 0);
      assert.equal((await store().getUser("a0000020"))?.lastLoginAt?.toISOString(), T0.toISOString());
    });

    test("portal: 60 parallel password checks on one user: max are reserved and counted, one locks, the rest are refused", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      await store().registerUser(user("a0000030"), passcode("a0000030"), []);
      const ev = { at: T0, actor: "user:a0000030", event: "login", userId: "a0000030", outcome: "failure" as const };
      const stale = { staleBefore: new Date(T0.getTime() - 5 * MIN) };
      const outcomes = await Promise.all(Array.from({ length: 60 }, async () => {
        const r = await store().reserveLoginAttempt("a0000030", 5, T0, stale);
        if (r !== "reserved") return r;
        await new Promise((done) => setTimeout(done, 5)); // the password check
        return (await store().recordLoginFailure("a0000030", 5, T0, [ev])).locked ? "locked-by-this" : "counted";
      }));
      assert.equal(outcomes.filter((o) => o === "counted").length, 4, outcomes.join(","));
      assert.equal(outcomes.filter((o) => o === "locked-by-this").length, 1);
      assert.equal(outcomes.filter((o) => o === "locked" || o === "busy").length, 55);
      assert.equal(await store().reserveLoginAttempt("a0000030", 5, T0, stale), "locked");
      assert.equal((await store().getUser("a0000030"))?.failedLogins, 5);
      assert.equal((await store().queryAudit({ userId: "a0000030", event: "login.lock" })).length, 1);
      const failures = await store().queryAudit({ userId: "a0000030", event: "login" });
      // Identical events are one row with a count (the audit log folds repeats).
      assert.equal(failures.reduce((n, r) => n + r.count, 0), 5, "one audited failure per wrong password");
    });

    test("portal: checks under way fill the limit until settled; a right password checked while the account locked does not count", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      await store().registerUser(user("a0000031"), passcode("a0000031"), []);
      const at = (m: number): Date => new Date(T0.getTime() + m * MIN);
      const stale = (m: number): { staleBefore: Date } => ({ staleBefore: at(m - 5) });
      for (let i = 0; i < 3; i++) assert.equal(await store().reserveLoginAttempt("a0000031", 3, at(0), stale(0)), "reserved");
      assert.equal(await store().reserveLoginAttempt("a0000031", 3, at(0), stale(0)), "busy", "three checks under way");
      for (let i = 0; i < 3; i++) await store().releaseLoginAttempt("a0000031");
      assert.equal(await store().reserveLoginAttempt("a0000031", 3, at(1), stale(1)), "reserved", "a check that hangs");
      // Six minutes later the hung check no longer counts: three wrong passwords lock the account.
      for (let i = 0; i < 3; i++) {
        assert.equal(await store().reserveLoginAttempt("a0000031", 3, at(7), stale(7)), "reserved");
        await store().recordLoginFailure("a0000031", 3, at(7), []);
      }
      const ok = { at: at(8), actor: "user:a0000031", event: "login", userId: "a0000031", outcome: "success" as const };
      assert.equal(await store().recordLoginSuccess("a0000031", at(8), [ok]), false, "the hung check ends with the right password after the lock");
      const u = await store().getUser("a0000031");
      assert.ok(u?.lockedAt);
      assert.equal(u.failedLogins, 3);
      assert.equal(u.lastLoginAt, null);
      assert.equal((await store().queryAudit({ userId: "a0000031", event: "login" })).length, 0, "no success recorded");
      // The automatic unlock: of two requests at once, one lifts the lock and audits it.
      const auto = { ...stale(30), autoUnlockBefore: at(15) };
      assert.deepEqual(await Promise.all([
        store().reserveLoginAttempt("a0000031", 3, at(30), auto), store().reserveLoginAttempt("a0000031", 3, at(30), auto),
      ]), ["reserved", "reserved"]);
      assert.equal((await store().queryAudit({ userId: "a0000031", event: "login.unlock" })).length, 1);
      assert.equal(await store().recordLoginSuccess("a0000031", at(30), [ok]), true);
      assert.equal((await store().getUser("a0000031"))?.failedLogins, 0);
    });

    test("address failures: 100 attempts in flight from one address reserve exactly max; the window ends", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      const outcomes = await Promise.all(Array.from({ length: 100 }, async () => {
        const r = await store().reserveAddressAttempt("192.0.2.77", 30, T0, 15 * MIN);
        if (r.granted) await store().settleAddressAttempt("192.0.2.77", true, { windowStart: r.windowStart, count: 1 });
        return r.granted;
      }));
      assert.equal(outcomes.filter(Boolean).length, 30);
      const later = await store().reserveAddressAttempt("192.0.2.77", 30, new Date(T0.getTime() + 14 * MIN), 15 * MIN);
      assert.deepEqual(later, { granted: false, windowStart: T0 });
      const next = await store().reserveAddressAttempt("192.0.2.77", 30, new Date(T0.getTime() + 15 * MIN), 15 * MIN);
      assert.deepEqual(next, { granted: true, windowStart: new Date(T0.getTime() + 15 * MIN) });
    });

    test("portal: password changes keep the last hashes only; a reset (initial) lifts the lock and ends sessions", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      await store().registerUser(user("a0000021", { passwordHash: "h0" }), passcode("a0000021"), []);
      for (let i = 1; i <= 4; i++) await store().changePassword("a0000021", `h${i}`, new Date(T0.getTime() + i * DAY), 2, []);
      assert.deepEqual(await store().passwordHistory("a0000021", 10), ["h3", "h2"]);
      const u = await store().getUser("a0000021");
      assert.equal(u?.passwordHash, "h4");
      assert.equal(u?.passwordInitial, false);
      await store().createSession({ idHash: "s1", userId: "a0000021", certFingerprint: "f", stage: "full", createdAt: T0, lastSeenAt: T0 }, []);
      await store().recordLoginFailure("a0000021", 1, T0, []);
      await store().setPassword("a0000021", "h5", true, T0, new Date(T0.getTime() + 40 * DAY), []);
      const r = await store().getUser("a0000021");
      assert.equal(r?.lockedAt, null);
      assert.equal(r?.passwordInitial, true);
      assert.equal(await store().getSession("s1"), undefined);
    });

    test("portal: sessions round-trip, are touched and deleted; suspension ends them", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      await store().registerUser(user("a0000022"), passcode("a0000022"), []);
      const rec = { idHash: "s2", userId: "a0000022", certFingerprint: "AB:CD", stage: "change-password" as const, createdAt: T0, lastSeenAt: T0 };
      await store().createSession(rec, []);
      assert.deepEqual(await store().getSession("s2"), rec);
      await store().touchSession("s2", new Date(T0.getTime() + MIN));
      assert.equal((await store().getSession("s2"))?.lastSeenAt.toISOString(), new Date(T0.getTime() + MIN).toISOString());
      await store().deleteSession("s2", []);
      assert.equal(await store().getSession("s2"), undefined);
      await store().createSession({ ...rec, idHash: "s3" }, []);
      await store().setStatus("a0000022", "suspended", T0, []);
      assert.equal(await store().getSession("s3"), undefined);
      assert.equal((await store().getUser("a0000022"))?.status, "suspended");
    });

    test("portal: revocation once, by serial in any case; fingerprint lookup; user search escapes LIKE", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      await store().registerUser(user("a0000023", { name: "100%_太郎" }), passcode("a0000023"), []);
      const c = cert("a0000023");
      await store().insertCertificate(c, []);
      assert.equal((await store().getCertificateByFingerprint(c.fingerprint))?.serial, c.serial);
      const r = await store().revokeCertificate(c.serial.toUpperCase(), "keyCompromise", T0, []);
      assert.equal(r.status, "revoked");
      assert.equal(r.revocationReason, "keyCompromise");
      assert.equal(r.revokedAt?.toISOString(), T0.toISOString());
      await assert.rejects(store().revokeCertificate(c.serial, "superseded", T0, []), (e) => isShomeiError(e) && e.code === "REVOKE_NOT_POSSIBLE");
      await assert.rejects(store().revokeCertificate("ff", "superseded", T0, []), (e) => isShomeiError(e) && e.code === "REVOKE_NOT_POSSIBLE");
      assert.deepEqual((await store().searchUsers({ text: "0%_太" })).map((u) => u.userId), ["a0000023"]);
      assert.deepEqual((await store().searchUsers({ text: "%" })).map((u) => u.userId), ["a0000023"], "% is a character, not a wildcard");
      assert.ok((await store().searchUsers({ text: "a00000" })).length >= 4);
    });

    test("the hot lookups read through an index, never a whole table (SQLite's query plan)", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      if (store().dialect !== "sqlite") return; // PostgreSQL picks a sequential scan for small tables: see bench/size_bench.ts on a million rows
      const plans = await store().hotQueryPlans();
      assert.ok(plans.length >= 9);
      for (const p of plans) {
        assert.ok(p.plan.length > 0, p.query);
        for (const line of p.plan) assert.doesNotMatch(line, /^SCAN /, `${p.query}: ${p.plan.join("; ")}`);
      }
    });

    test("one read gives what two gave: user with passcode, certificate with user (revoked and suspended included)", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      const same = async (fp: string): Promise<void> => {
        const joined = await store().getCertificateAndUser(fp);
        const c = await store().getCertificateByFingerprint(fp);
        // Everything getCertificateByFingerprint gives but the DER (the caller has it: it found the row by its hash).
        assert.deepEqual(joined?.cert, c ? withoutDer(c) : undefined);
        assert.equal(joined && "der" in joined.cert, joined ? false : undefined);
        assert.deepEqual(joined?.user, c?.userId ? await store().getUser(c.userId) : undefined);
      };
      const both = async (id: string): Promise<void> => {
        assert.deepEqual(await store().getUserWithPasscode(id), { user: await store().getUser(id), passcode: await store().getPasscode(id) });
      };
      await store().registerUser(user("a0000024", { passwordInitial: false, lockedAt: T0, failedLogins: 3 }), passcode("a0000024"), []);
      await both("a0000024");
      await both("nobody00");
      await store().redeemPasscode({
        userId: "a0000024", passcodeHash: "aa".repeat(32), csrHash: "c1".repeat(32), now: T0, replayWindowMs: MIN, certificate: cert("a0000024"), audit: [],
      });
      await both("a0000024");
      const c = cert("a0000024");
      await store().insertCertificate(c, []);
      const server = cert("x", { userId: null, kind: "server" });
      await store().insertCertificate(server, []);
      await same(c.fingerprint);
      await same(server.fingerprint);
      await same("00".repeat(32));
      await store().revokeCertificate(c.serial, "keyCompromise", T0, []);
      await store().setStatus("a0000024", "suspended", T0, []);
      await same(c.fingerprint);
      assert.equal((await store().getCertificateAndUser(c.fingerprint))?.user?.status, "suspended");
    });

    test("one read gives what three gave: certificate, user and session (the portal's every request)", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      const same = async (fp: string, idHash: string): Promise<void> => {
        const joined = await store().getCertificateUserAndSession(fp, idHash);
        const two = await store().getCertificateAndUser(fp);
        assert.deepEqual(joined, two ? { ...two, session: await store().getSession(idHash) } : undefined, `${fp} ${idHash}`);
      };
      await store().registerUser(user("a0000025", { passwordInitial: false }), passcode("a0000025"), []);
      await store().registerUser(user("a0000026"), passcode("a0000026"), []);
      const c = cert("a0000025");
      await store().insertCertificate(c, []);
      const session = { idHash: "5e".repeat(32), userId: "a0000025", certFingerprint: c.fingerprint, stage: "full" as const, createdAt: T0, lastSeenAt: T0 };
      // Another user's session and another certificate's: handed over as they are, the portal decides.
      const foreign = { ...session, idHash: "5f".repeat(32), userId: "a0000026", certFingerprint: "00".repeat(32), stage: "change-password" as const };
      await store().createSession(session, []);
      await store().createSession(foreign, []);
      for (const h of [session.idHash, foreign.idHash, "77".repeat(32), ""]) {
        await same(c.fingerprint, h);
        await same("00".repeat(32), h);
      }
      assert.deepEqual((await store().getCertificateUserAndSession(c.fingerprint, session.idHash))?.session, session);
      await store().touchSession(session.idHash, new Date(T0.getTime() + MIN));
      await same(c.fingerprint, session.idHash);
      assert.deepEqual((await store().getCertificateUserAndSession(c.fingerprint, session.idHash))?.session?.lastSeenAt, new Date(T0.getTime() + MIN));
      await store().revokeCertificate(c.serial, "superseded", T0, []);
      await same(c.fingerprint, session.idHash);
      assert.equal((await store().getCertificateUserAndSession(c.fingerprint, session.idHash))?.cert.status, "revoked");
      await store().deleteSession(session.idHash, []);
      await same(c.fingerprint, session.idHash);
      assert.equal((await store().getCertificateUserAndSession(c.fingerprint, session.idHash))?.session, undefined);
      await store().setStatus("a0000025", "suspended", T0, []);
      await same(c.fingerprint, foreign.idHash);
      assert.equal((await store().getCertificateUserAndSession(c.fingerprint, foreign.idHash))?.user?.status, "suspended");
      // The user's certificates (a prepared query now): newest expiry first, then serial.
      const later = cert("a0000025", { notAfter: new Date(T0.getTime() + 400 * DAY) });
      await store().insertCertificate(later, []);
      assert.deepEqual((await store().listCertificates("a0000025")).map((x) => x.serial), [later.serial, c.serial]);
    });

    test("the page's list of a user's certificates: listCertificates' rows and order, only the fields it shows", async (t) => {
      if (!s && !(await needs(t, "postgres"))) return;
      const entries = async (userId: string): Promise<void> => {
        const full = await store().listCertificates(userId);
        assert.deepEqual(await store().listCertificateEntries(userId), full.map((x) => ({
          serial: x.serial, notBefore: x.notBefore, notAfter: x.notAfter, status: x.status, revocationReason: x.revocationReason,
        })), userId);
      };
      await store().registerUser(user("a0000027"), passcode("a0000027"), []);
      await entries("a0000027");
      const first = cert("a0000027");
      // Same expiry as `first`: ordered by serial; a later one comes first; an earlier one last.
      const twin = cert("a0000027", { notAfter: first.notAfter });
      const later = cert("a0000027", { notAfter: new Date(first.notAfter.getTime() + 30 * DAY) });
      const earlier = cert("a0000027", { notAfter: new Date(first.notAfter.getTime() - 30 * DAY) });
      for (const c of [first, twin, later, earlier]) await store().insertCertificate(c, []);
      await store().insertCertificate(cert("a0000025"), []);
      await entries("a0000027");
      assert.equal((await store().listCertificateEntries("a0000027")).length, 4);
      await store().revokeCertificate(twin.serial, "keyCompromise", T0, []);
      await store().revokeCertificate(later.serial, "superseded", T0, []);
      await entries("a0000027");
      assert.deepEqual((await store().listCertificateEntries("a0000027")).map((x) => x.revocationReason).sort(), ["keyCompromise", "superseded", null, null].sort());
      assert.deepEqual(await store().listCertificateEntries("nobody00"), []);
    });
  });
}

const dir = tempDir("shomei-store-");
contract("SQLite", () => openStore(`sqlite:${join(dir, "contract.db")}`), () => Promise.resolve());

const pgSchema = testSchema("shomei_test");
contract(
  "PostgreSQL",
  async () => { const url = await pgSchema.url(); return url === false ? undefined : openStore(url); },
  () => pgSchema.drop(),
);
