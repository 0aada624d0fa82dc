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
