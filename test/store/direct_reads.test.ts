/**
 * The portal's reads on SQLite through better-sqlite3's raw mode (store/direct_reads.ts) give
 * what the same reads through Kysely give, and never what a transaction of this process has
 * not committed yet.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { openStore } from "../../src/store/open.js";
import type { KyselyStore } from "../../src/store/kysely_store.js";
import type { CertificateRecord } from "../../src/ca/ports.js";
import type { PasscodeRecord, UserRecord } from "../../src/registration/ports.js";
import type { SessionRecord } from "../../src/portal/ports.js";
import { verifyPrepared } from "../../src/store/prepared.js";
import BetterSqlite3 from "better-sqlite3";
import { BUSY, DirectReads } from "../../src/store/direct_reads.js";
import { tempDir } from "../helpers/ca.js";

const T0 = new Date("2026-04-01T00:00:00.000Z");
const DAY = 86_400_000;

function user(id: string, over: Partial<UserRecord> = {}): UserRecord {
  return {
    userId: id, email: `${id}@example.jp`, name: `名前 ${id}`, organization: "テスト株式会社", lang: "ja", role: "user",
    status: "active", passwordHash: "$argon2id$dummy", passwordInitial: false, passwordSetAt: T0,
    passwordExpiresAt: null, createdAt: T0, failedLogins: 0, lockedAt: null, lastLoginAt: null, ...over,
  };
}

function cert(id: string | null, over: Partial<CertificateRecord> = {}): CertificateRecord {
  return {
    serial: randomBytes(16).toString("hex"), userId: id, kind: "client", subject: `CN=${id ?? "server"}`, notBefore: T0,
    notAfter: new Date(T0.getTime() + 365 * DAY), fingerprint: randomBytes(32).toString("hex"), der: randomBytes(300),
    status: "valid", csrHash: "c1".repeat(32), createdAt: T0, ...over,
  };
}

function passcode(id: string): PasscodeRecord {
  return {
    userId: id, hash: "aa".repeat(32), issuedAt: T0, expiresAt: new Date(T0.getTime() + 40 * DAY), failedAttempts: 0, status: "active",
    usedAt: null, csrHash: null, certificateSerial: null,
  };
}

describe("direct reads (SQLite, raw mode)", () => {
  let s: KyselyStore | undefined;
  const store = (): KyselyStore => {
    if (!s) throw new Error("store not open");
    return s;
  };
  before(async () => {
    s = await openStore(`sqlite:${join(tempDir("shomei-direct-"), "d.db")}`);
  });
  after(async () => {
    verifyPrepared(false);
    await s?.close();
  });

  test("the joined reads and the certificate list answer as through Kysely, for users, certificates and sessions of every kind", async () => {
    // Each direct read is also made through Kysely and compared deeply (throws on a difference).
    verifyPrepared(true);
    const odd = ["<script>alert(1)</script>", "O'Brien \"&\" co", "😀 絵文字", "", " ".repeat(3), "x".repeat(500)];
    const users = odd.map((text, i) => user(`b${String(i).padStart(7, "0")}`, {
      name: text, organization: odd[(i + 1) % odd.length] ?? "", lang: i % 2 ? "en" : "ja", role: i % 3 ? "user" : "operator",
      status: i % 4 === 3 ? "suspended" : "active", passwordHash: i === 2 ? null : "$argon2id$v=19$x", passwordInitial: i % 2 === 0,
      passwordSetAt: i === 1 ? null : new Date(T0.getTime() - i * DAY), passwordExpiresAt: i % 2 ? null : new Date(T0.getTime() + 40 * DAY),
      failedLogins: i, lockedAt: i === 4 ? T0 : null, lastLoginAt: i === 5 ? new Date(T0.getTime() + 1234) : null,
    }));
    const certs: CertificateRecord[] = [];
    const sessions: SessionRecord[] = [];
    for (const [i, u] of users.entries()) {
      await store().registerUser(u, passcode(u.userId), []);
      for (let k = 0; k <= i % 3; k++) {
        const c = cert(u.userId, { notAfter: new Date(T0.getTime() + (100 + k * 30 - i) * DAY), notBefore: new Date(T0.getTime() - k * DAY) });
        await store().insertCertificate(c, []);
        certs.push(c);
      }
      const last = certs[certs.length - 1];
      if (!last) throw new Error("no certificate");
      const session: SessionRecord = {
        idHash: randomBytes(32).toString("hex"), userId: u.userId, certFingerprint: last.fingerprint,
        stage: i % 2 ? "full" : "change-password", createdAt: T0, lastSeenAt: new Date(T0.getTime() + i * 60_000),
      };
      await store().createSession(session, []);
      sessions.push(session);
    }
    const server = cert(null, { kind: "server" });
    await store().insertCertificate(server, []);
    const first = certs[0];
    if (!first) throw new Error("no certificate");
    await store().revokeCertificate(first.serial, "keyCompromise", new Date(T0.getTime() + DAY), []);
    const hashes = [...sessions.map((x) => x.idHash), "", "00".repeat(32), "'; drop table sessions; --"];
    let found = 0;
    for (const c of [...certs, server, cert("nobody")]) {
      // The login page's read (no session) too.
      assert.equal((await store().getCertificateAndUser(c.fingerprint))?.cert.serial, c.serial === server.serial || c.userId !== "nobody" ? c.serial : undefined);
      for (const h of hashes) {
        const r = await store().getCertificateUserAndSession(c.fingerprint, h);
        if (r?.session) found++;
      }
    }
    // Each session was found with each certificate on record (the join does not bind them; the portal does).
    assert.equal(found, sessions.length * (certs.length + 1));
    for (const u of [...users, user("nobody00")]) {
      const list = await store().listCertificateEntries(u.userId);
      assert.equal(list.length, certs.filter((c) => c.userId === u.userId).length);
    }
    // The enrollment's read: users with an active, a used, a void and no passcode, and no user.
    const used = users[1]?.userId ?? "";
    await store().redeemPasscode({
      userId: used, passcodeHash: "aa".repeat(32), csrHash: "c1".repeat(32), now: T0, replayWindowMs: 60_000, certificate: cert(used), audit: [],
    });
    const voided = users[2]?.userId ?? "";
    for (let i = 0; i < 5; i++) await store().recordPasscodeFailure(voided, 5, []);
    // A user whose passcode row is gone (the join finds none).
    await store().registerUser(user("b9999999"), passcode("b9999999"), []);
    await store().db.deleteFrom("passcodes").where("user_id", "=", "b9999999").execute();
    for (const id of [...users.map((u) => u.userId), "b9999999", "nobody00"]) {
      const r = await store().getUserWithPasscode(id);
      assert.equal(r.user?.userId, id === "nobody00" ? undefined : id);
      assert.equal(r.passcode?.status, id === used ? "used" : id === voided ? "void" : id === "b9999999" || id === "nobody00" ? undefined : "active");
    }
    const joined = await store().getCertificateUserAndSession(first.fingerprint, sessions[0]?.idHash ?? "");
    assert.equal(joined?.cert.status, "revoked");
    assert.equal(joined?.cert.revocationReason, "keyCompromise");
    assert.equal(joined?.user?.name, odd[0]);
    verifyPrepared(false);
  });

  test("a read while this process's transaction is open does not see its uncommitted rows", async () => {
    const u = user("c0000001");
    await store().registerUser(u, passcode(u.userId), []);
    const c = cert(u.userId);
    await store().insertCertificate(c, []);
    let inside!: () => void;
    const opened = new Promise<void>((r) => { inside = r; });
    let finish!: () => void;
    const gate = new Promise<void>((r) => { finish = r; });
    // A write that suspends the user and revokes the certificate, then fails: rolled back.
    const write = store().write(async (t) => {
      await t.updateTable("users").set({ status: "suspended" }).where("user_id", "=", u.userId).execute();
      await t.updateTable("certificates").set({ status: "revoked" }).where("serial", "=", c.serial).execute();
      inside();
      await gate;
      throw new Error("rolled back");
    });
    await opened;
    const read = store().getCertificateUserAndSession(c.fingerprint, "");
    const alone = store().getCertificateAndUser(c.fingerprint);
    const list = store().listCertificateEntries(u.userId);
    const enrolling = store().getUserWithPasscode(u.userId);
    finish();
    await assert.rejects(write, /rolled back/);
    const r = await read;
    assert.equal(r?.user?.status, "active");
    assert.equal(r?.cert.status, "valid");
    assert.equal((await alone)?.user?.status, "active");
    assert.deepEqual((await list).map((x) => x.status), ["valid"]);
    assert.equal((await enrolling).user?.status, "active");
  });

  test("a statement whose columns are not the ones the reader expects, in order, is refused; inside a transaction the answer is BUSY", () => {
    const db = new BetterSqlite3(join(tempDir("shomei-direct-"), "c.db"));
    try {
      const d = new DirectReads(db);
      assert.deepEqual(d.row("select 1 as a, 'x' as b", ["a", "b"], []), [1, "x"]);
      assert.throws(() => d.row("select 1 as b, 2 as a", ["a", "b"], []), /columns b,a are not a,b/);
      assert.throws(() => d.rows("select 1 as a", ["a", "b"], []), /not a,b/);
      db.exec("begin");
      assert.equal(d.row("select 1 as a, 'x' as b", ["a", "b"], []), BUSY);
      assert.equal(d.rows("select 1 as a, 'x' as b", ["a", "b"], []), BUSY);
      db.exec("rollback");
      assert.deepEqual(d.rows("select 1 as a, 'x' as b", ["a", "b"], []), [[1, "x"]]);
    } finally {
      db.close();
    }
  });
});
