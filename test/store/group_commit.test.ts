/**
 * SQLite's group commit (KyselyStore.flush): a batch of writes runs first without a savepoint
 * per write, and again with them only when one write fails. Whatever path a batch takes, the
 * rows must be those the same writes leave when each commits alone (a batch of one, the path
 * without savepoints that was always taken then): same certificates, passcodes, audit rows
 * (ids, repeat keys, counts) and address-limit rows, and a failing write changes nothing.
 */
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { sql } from "kysely";
import { openStore } from "../../src/store/open.js";
import type { KyselyStore } from "../../src/store/kysely_store.js";
import type { CertificateRecord } from "../../src/ca/ports.js";
import type { PasscodeRecord, RedeemResult, UserRecord } from "../../src/registration/ports.js";
import { tempDir } from "../helpers/ca.js";

const T0 = new Date("2026-04-01T00:00:00.000Z");
const DAY = 86_400_000;
const HASH = "aa".repeat(32);

const hex = (s: string, n: number): string => createHash("sha256").update(s).digest("hex").slice(0, n);

function user(id: string): UserRecord {
  return {
    userId: id, email: `${id}@example.jp`, name: `名前 ${id}`, organization: "Org", lang: "ja", role: "user", status: "active",
    passwordHash: null, passwordInitial: true, passwordSetAt: T0, passwordExpiresAt: new Date(T0.getTime() + 40 * DAY), createdAt: T0,
    failedLogins: 0, lockedAt: null, lastLoginAt: null,
  };
}

function passcode(id: string, over: Partial<PasscodeRecord> = {}): PasscodeRecord {
  return {
    userId: id, hash: HASH, issuedAt: T0, expiresAt: new Date(T0.getTime() + 30 * DAY), failedAttempts: 0, status: "active",
    usedAt: null, csrHash: null, certificateSerial: null, ...over,
  };
}

/** The same certificate every time for the same user (the two stores must get equal inputs). */
function cert(id: string, serial = hex(`serial ${id}`, 32)): CertificateRecord {
  return {
    serial, userId: id, kind: "client", subject: `CN=${id}, O=Org`, notBefore: T0, notAfter: new Date(T0.getTime() + 365 * DAY),
    fingerprint: hex(`fp ${id} ${serial}`, 64), der: Buffer.from(hex(`der ${id}`, 64), "hex"), status: "valid", csrHash: hex(`csr ${id}`, 64),
    createdAt: T0,
  };
}

type Op = () => Promise<unknown>;

/** The writes of one scenario, as functions of the store; `i` picks which one collides. */
function scenario(s: KyselyStore, ids: readonly string[], failAt: ReadonlySet<number>, taken: string): Op[] {
  const ops: Op[] = [];
  ids.forEach((id, i) => {
    const c = failAt.has(i) ? cert(id, taken) : cert(id);
    ops.push(() => s.redeemPasscode({
      userId: id, passcodeHash: HASH, csrHash: c.csrHash ?? "", now: T0, replayWindowMs: 10 * 60_000, certificate: c,
      audit: [
        // As simpleEnroll writes them (`once`: no repeat key).
        { at: T0, actor: `user:${id}`, event: "passcode.use", userId: id, outcome: "success", detail: { serial: c.serial, remote: "192.0.2.1" }, once: true },
        { at: T0, actor: `user:${id}`, event: "certificate.issue", userId: id, outcome: "success", detail: { serial: c.serial, requestedSubject: `CN=${id}`, notAfter: c.notAfter.toISOString() }, once: true },
      ],
    }));
    // The address limit's grouped writes between them (as EST interleaves them).
    if (i % 3 === 0) ops.push(() => s.reserveAddressAttempt(`192.0.2.${i % 2}`, 1000, T0, 60_000));
    if (i % 3 === 1) ops.push(() => s.settleAddressAttempt(`192.0.2.${i % 2}`, i % 2 === 0, { windowStart: T0, count: 1 }));
  });
  // A retry of the first redemption with the same CSR in the same batch: a replay (or, in the batch, issued first).
  ops.push(() => s.redeemPasscode({
    userId: ids[0] ?? "", passcodeHash: HASH, csrHash: cert(ids[0] ?? "").csrHash ?? "", now: T0, replayWindowMs: 10 * 60_000, certificate: cert(ids[0] ?? ""), audit: [],
  }));
  return ops;
}

async function setUp(s: KyselyStore, ids: readonly string[], taken: string): Promise<void> {
  for (const id of ids) await s.registerUser(user(id), passcode(id), []);
  await s.registerUser(user("z9999999"), passcode("z9999999"), []);
  await s.insertCertificate(cert("z9999999", taken), []);
}

/** Every row the writes can touch, in id / key order. */
async function rows(s: KyselyStore): Promise<Record<string, unknown[]>> {
  const all = async (q: string): Promise<unknown[]> => (await sql.raw(q).execute(s.db)).rows;
  return {
    certificates: await all("select * from certificates order by serial"),
    passcodes: await all("select * from passcodes order by user_id"),
    audit: await all("select * from audit_log order by id"),
    addresses: await all("select * from address_failures order by address"),
  };
}

type Settled = { ok: true; value: unknown } | { ok: false; error: string };

const settle = (p: Promise<unknown>): Promise<Settled> =>
  p.then((value) => ({ ok: true as const, value }), (e: unknown) => ({ ok: false as const, error: (e as { code?: string }).code ?? String(e) }));

/** A redemption's answer without the certificate's DER Buffer identity (compared by value anyway). */
function answer(r: Settled): unknown {
  if (!r.ok) return r;
  const v = r.value as RedeemResult | { granted: boolean } | undefined;
  return v && "outcome" in v && v.outcome !== "rejected" ? { outcome: v.outcome, serial: v.certificate.serial } : v;
}

describe("SQLite group commit: a batch leaves the rows its writes leave one at a time", () => {
  const dir = tempDir("shomei-group-");
  const open: KyselyStore[] = [];
  after(async () => { for (const s of open) await s.close(); });
  const store = async (name: string): Promise<KyselyStore> => {
    const s = await openStore(`sqlite:${join(dir, `${name}.db`)}`);
    open.push(s);
    return s;
  };

  for (const [label, failAt] of [
    ["no write fails", new Set<number>()],
    ["one write in the middle fails (duplicate serial)", new Set([7])],
    ["the first and the last redemption fail", new Set([0, 23])],
  ] as const) {
    test(label, async () => {
      const ids = Array.from({ length: 24 }, (_, i) => `b${String(i + 1).padStart(7, "0")}`);
      const taken = hex("taken", 32);
      const batched = await store(`batched-${failAt.size}-${[...failAt].join("_")}`);
      const alone = await store(`alone-${failAt.size}-${[...failAt].join("_")}`);
      await setUp(batched, ids, taken);
      await setUp(alone, ids, taken);

      // All queued before the first flush: one batch (up to 64 writes share a commit).
      const together = await Promise.all(scenario(batched, ids, failAt, taken).map((op) => settle(op())));
      const oneByOne: Settled[] = [];
      for (const op of scenario(alone, ids, failAt, taken)) oneByOne.push(await settle(op()));

      assert.deepEqual(together.map(answer), oneByOne.map(answer));
      assert.equal(together.filter((r) => !r.ok).length, failAt.size);
      assert.deepEqual(await rows(batched), await rows(alone));
      // A failed redemption left its passcode active and wrote no audit row (the first user's
      // is redeemed again at the end of the batch, with a good certificate).
      for (const i of failAt) {
        if (i === 0) continue;
        const id = ids[i] ?? "";
        assert.equal((await batched.getPasscode(id))?.status, "active");
        assert.deepEqual(await batched.queryAudit({ userId: id }), []);
      }
    });
  }
});

/**
 * While writers overlap, a commit waits up to 2 ms (or until 8 writes are queued) for more
 * writes; a writer alone never waits. Which commits waited is read from the store's counters:
 * the suite has no timing assertions.
 */
describe("SQLite group commit: overlapping writers share commits, a writer alone is not held back", () => {
  const dir = tempDir("shomei-group-delay-");
  const fresh = async (name: string): Promise<KyselyStore> => openStore(`sqlite:${join(dir, `${name}.db`)}`);
  const addresses = async (s: KyselyStore): Promise<unknown[]> => (await sql.raw("select address, pending from address_failures order by address").execute(s.db)).rows;

  test("one write after another: each commits at once, none waits", async () => {
    const s = await fresh("alone");
    try {
      for (let i = 0; i < 30; i++) assert.equal((await s.reserveAddressAttempt("192.0.2.1", 1000, T0, 60_000)).granted, true);
      assert.deepEqual(s.groupStats, { commits: 30, writes: 30, delayed: 0 });
      assert.deepEqual(await addresses(s), [{ address: "192.0.2.1", pending: 30 }]);
    } finally {
      await s.close();
    }
  });

  test("eight writers, ten writes each, starting at different moments: fewer commits than writes, every write lands", async (t) => {
    const s = await fresh("overlap");
    try {
      const writer = async (w: number): Promise<void> => {
        await new Promise((r) => setTimeout(r, w));
        for (let i = 0; i < 10; i++) {
          await s.reserveAddressAttempt(`192.0.2.${w}`, 1000, T0, 60_000);
          // Each writer does other work between its writes, for a different time (as requests do).
          await new Promise((r) => setTimeout(r, (w + i) % 3));
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
      assert.equal(s.groupStats.writes, 80);
      assert.ok(s.groupStats.delayed > 0, `some commits waited for more writes: ${JSON.stringify(s.groupStats)}`);
      assert.ok(s.groupStats.commits <= 40, `writes shared commits: ${JSON.stringify(s.groupStats)}`);
      t.diagnostic(JSON.stringify(s.groupStats));
      assert.deepEqual(await addresses(s), Array.from({ length: 8 }, (_, w) => ({ address: `192.0.2.${w}`, pending: 10 })));
    } finally {
      await s.close();
    }
  });

  test("closing the store while a commit waits for more writes: the waiting write is committed first", async () => {
    const path = "closing";
    const s = await fresh(path);
    // Two writes in one commit make the next one wait.
    await Promise.all([s.reserveAddressAttempt("192.0.2.1", 1000, T0, 60_000), s.reserveAddressAttempt("192.0.2.2", 1000, T0, 60_000)]);
    const waiting = s.reserveAddressAttempt("192.0.2.3", 1000, T0, 60_000);
    assert.equal(s.groupStats.delayed, 1);
    await s.close();
    assert.equal((await waiting).granted, true);
    const again = await fresh(path);
    try {
      assert.deepEqual((await addresses(again)).map((r) => (r as { address: string }).address), ["192.0.2.1", "192.0.2.2", "192.0.2.3"]);
    } finally {
      await again.close();
    }
  });
});
