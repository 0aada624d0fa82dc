/**
 * Two connections to one SQLite file (two `serve` workers, or a worker and the CLI): while one
 * holds the write lock, a write of the other waits without stopping its thread (other work of
 * that worker goes on) and lands, with its audit rows, once the lock is free.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { openStore } from "../../src/store/open.js";
import { tempDir } from "../helpers/ca.js";

test("a write waiting for another connection's write lock leaves the thread free, then lands", async () => {
  const path = join(tempDir(), "shomei.db");
  const store = await openStore(`sqlite:${path}`);
  const other = new BetterSqlite3(path);
  try {
    const at = new Date("2026-04-01T00:00:00.000Z");
    const event = { at, actor: "system", event: "test.lock", userId: null, outcome: "success" as const, detail: { n: 1 } };
    other.exec("begin immediate");
    let settled = false;
    const write = store.audit([event, { ...event, event: "test.lock2" }]).then(() => {
      settled = true;
    });
    // The thread is not held in SQLite's busy handler: timers of this worker keep firing.
    let ticks = 0;
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      ticks += 1;
    }
    assert.equal(ticks, 20);
    assert.equal(settled, false, "the write waits while the other connection holds the lock");
    other.exec("commit");
    await write;
    const rows = await store.queryAudit({});
    assert.deepEqual(rows.map((r) => r.event).sort(), ["test.lock", "test.lock2"]);
    assert.ok(rows.every((r) => r.count === 1 && r.detail?.n === 1));
  } finally {
    other.close();
    await store.close();
  }
});

test("a write refused by something else than the lock still fails (not retried forever)", async () => {
  const path = join(tempDir(), "shomei.db");
  const store = await openStore(`sqlite:${path}`);
  try {
    await assert.rejects(store.write(async (t) => {
      await t.insertInto("users").values({ user_id: "x" } as never).execute();
    }));
    // The connection is usable afterwards (the failed transaction was rolled back).
    await store.audit([{ at: new Date(), actor: "system", event: "after", userId: null, outcome: "success" }]);
    assert.equal((await store.queryAudit({ event: "after" })).length, 1);
  } finally {
    await store.close();
  }
});
