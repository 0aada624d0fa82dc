/**
 * The per-address failure limiter over a real store (a SQLite file): the counts are in the
 * database, so two stores over one file (two processes, two instances) share them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FailureLimiter } from "./failure_limiter.js";
import { isShomeiError } from "../i18n/errors.js";
import { openStore } from "../store/open.js";
import type { KyselyStore } from "../store/kysely_store.js";

const T0 = new Date("2026-12-04T00:00:00.000Z");

async function withStores(n: number, fn: (stores: KyselyStore[]) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "shomei-limiter-"));
  const stores: KyselyStore[] = [];
  try {
    for (let i = 0; i < n; i++) stores.push(await openStore(`sqlite:${join(dir, "limiter.db")}`));
    await fn(stores);
  } finally {
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const paused = (minutes: number) => (e: unknown): boolean =>
  isShomeiError(e) && e.code === "TOO_MANY_ATTEMPTS" && e.params.minutes === minutes;

test("the failure limiter pauses an address after its failures, shared by two stores on one file, and forgets them after the window", async () => {
  await withStores(2, async ([a, b]) => {
    if (!a || !b) throw new Error("stores not open");
    let now = T0;
    const clock = (): Date => now;
    const one = new FailureLimiter(a, { max: 2, windowMs: 60_000 }, clock);
    const two = new FailureLimiter(b, { max: 2, windowMs: 60_000 }, clock);
    await (await one.reserve("192.0.2.1")).failed();
    await (await two.reserve("192.0.2.1")).failed();
    await assert.rejects(one.reserve("192.0.2.1"), paused(1));
    await assert.rejects(two.reserve("192.0.2.1"), paused(1), "the other store sees the same count");
    await (await one.reserve("192.0.2.2")).release();
    now = new Date(T0.getTime() + 30_000);
    await assert.rejects(two.reserve("192.0.2.1"), paused(1));
    now = new Date(T0.getTime() + 60_000);
    await (await two.reserve("192.0.2.1")).failed();
    await (await one.reserve("192.0.2.1")).release();
    await (await one.reserve("192.0.2.1")).failed();
    await assert.rejects(one.reserve("192.0.2.1"), paused(1), "a new window: two failures allowed again, then paused");
  });
});

test("successes and other errors do not count; attempts in flight count until they are settled", async () => {
  await withStores(1, async ([s]) => {
    if (!s) throw new Error("store not open");
    const l = new FailureLimiter(s, { max: 3, windowMs: 15 * 60_000 }, () => T0);
    for (let i = 0; i < 10; i++) assert.equal(await l.guard("198.51.100.7", () => true, () => Promise.resolve(i)), i);
    await assert.rejects(l.guard("198.51.100.7", () => false, () => Promise.reject(new Error("not a failure"))), /not a failure/);
    const held = [await l.reserve("198.51.100.7"), await l.reserve("198.51.100.7"), await l.reserve("198.51.100.7")];
    await assert.rejects(l.reserve("198.51.100.7"), paused(15), "three in flight fill the limit");
    for (const h of held) await h.release();
    await (await l.reserve("198.51.100.7")).release();
  });
});

test("many failures in flight at once: exactly max of them are evaluated, the rest are paused", async () => {
  await withStores(2, async ([a, b]) => {
    if (!a || !b) throw new Error("stores not open");
    const one = new FailureLimiter(a, { max: 30, windowMs: 60_000 }, () => T0);
    const two = new FailureLimiter(b, { max: 30, windowMs: 60_000 }, () => T0);
    let evaluated = 0;
    const outcomes = await Promise.allSettled(Array.from({ length: 100 }, (_, i) =>
      (i % 2 === 0 ? one : two).guard("203.0.113.9", () => true, async () => {
        evaluated++;
        await new Promise((r) => setTimeout(r, 5));
        throw new Error("wrong passcode");
      })));
    const refused = outcomes.filter((o) => o.status === "rejected" && paused(1)(o.reason)).length;
    assert.equal(evaluated, 30);
    assert.equal(refused, 70);
  });
});

test("windows that ended are deleted when a new one begins", async () => {
  await withStores(1, async ([s]) => {
    if (!s) throw new Error("store not open");
    let now = T0;
    const l = new FailureLimiter(s, { max: 5, windowMs: 60_000 }, () => now);
    for (let i = 0; i < 20; i++) await (await l.reserve(`192.0.2.${i}`)).failed();
    now = new Date(T0.getTime() + 120_000);
    await (await l.reserve("198.51.100.1")).failed();
    const rows = await s.db.selectFrom("address_failures").select("address").execute();
    assert.deepEqual(rows.map((r) => r.address), ["198.51.100.1"]);
  });
});

const row = async (s: KyselyStore, address: string): Promise<{ failures: number; pending: number; window_start: string } | undefined> =>
  s.db.selectFrom("address_failures").select(["failures", "pending", "window_start"]).where("address", "=", address).executeTakeFirst();

test("a release rides on the address's next reservation, or is written alone shortly after; the count never falls below what is in flight", async () => {
  await withStores(2, async ([a, b]) => {
    if (!a || !b) throw new Error("stores not open");
    const one = new FailureLimiter(a, { max: 1, windowMs: 60_000 }, () => T0);
    const two = new FailureLimiter(b, { max: 1, windowMs: 60_000 }, () => T0);
    // max 1: each reservation is granted only because it carries the release of the one before.
    for (let i = 0; i < 5; i++) assert.equal(await one.guard("192.0.2.50", () => true, () => Promise.resolve(i)), i);
    assert.deepEqual({ ...(await row(a, "192.0.2.50")) }, { failures: 0, pending: 1, window_start: T0.toISOString() }, "the last release is not written yet");
    await assert.rejects(two.reserve("192.0.2.50"), paused(1), "until it is, another process sees the attempt as pending (the safe side)");
    await new Promise((r) => setTimeout(r, 80));
    assert.equal((await row(a, "192.0.2.50"))?.pending, 0, "written alone after a moment");
    await one.guard("192.0.2.51", () => true, () => Promise.resolve(0));
    assert.equal((await row(a, "192.0.2.51"))?.pending, 1);
    await one.flushReleases();
    assert.equal((await row(a, "192.0.2.51"))?.pending, 0, "at shutdown the waiting releases are written at once (serve's close does this before closing the store)");
    const held = await two.reserve("192.0.2.50");
    await assert.rejects(one.reserve("192.0.2.50"), paused(1), "an attempt in flight in the other process fills the limit");
    await held.failed();
    assert.deepEqual({ ...(await row(b, "192.0.2.50")) }, { failures: 1, pending: 0, window_start: T0.toISOString() });
  });
});

test("a failure carries this window's unwritten releases; at the limit, a reservation carrying a release is granted", async () => {
  await withStores(2, async ([s, t]) => {
    if (!s || !t) throw new Error("stores not open");
    const l = new FailureLimiter(s, { max: 3, windowMs: 60_000 }, () => T0);
    const other = new FailureLimiter(t, { max: 3, windowMs: 60_000 }, () => T0);
    const x = [await l.reserve("192.0.2.60"), await l.reserve("192.0.2.60"), await l.reserve("192.0.2.60")];
    await x[0]?.release();
    await x[1]?.release();
    assert.equal((await row(s, "192.0.2.60"))?.pending, 3);
    await x[2]?.failed();
    assert.deepEqual({ ...(await row(s, "192.0.2.60")) }, { failures: 1, pending: 0, window_start: T0.toISOString() });
    const y = await l.reserve("192.0.2.61");
    const o = [await other.reserve("192.0.2.61"), await other.reserve("192.0.2.61")];
    await o[0]?.failed();
    await o[1]?.failed();
    await y.release();
    await assert.rejects(other.reserve("192.0.2.61"), paused(1), "two failures and the unwritten release fill max 3");
    await (await l.reserve("192.0.2.61")).failed();
    assert.deepEqual({ ...(await row(s, "192.0.2.61")) }, { failures: 3, pending: 0, window_start: T0.toISOString() });
    await assert.rejects(l.reserve("192.0.2.61"), paused(1));
  });
});

test("releases and failures of an ended window do not touch the next window's counts", async () => {
  await withStores(2, async ([a, b]) => {
    if (!a || !b) throw new Error("stores not open");
    let now = T0;
    const one = new FailureLimiter(a, { max: 2, windowMs: 60_000 }, () => now);
    const two = new FailureLimiter(b, { max: 2, windowMs: 60_000 }, () => now);
    const old = [await one.reserve("192.0.2.70"), await one.reserve("192.0.2.70")];
    now = new Date(T0.getTime() + 60_000);
    const fresh = await two.reserve("192.0.2.70");
    await old[0]?.release();
    await old[1]?.failed();
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual({ ...(await row(a, "192.0.2.70")) }, { failures: 0, pending: 1, window_start: now.toISOString() }, "the new window still counts its attempt in flight");
    await (await one.reserve("192.0.2.70")).failed();
    await assert.rejects(two.reserve("192.0.2.70"), paused(1), "one failure and one in flight fill max 2");
    await fresh.release();
  });
});
