/**
 * One per-address failure limit for every listener, process and instance: the counts are in
 * the database. Two instances of the service over one data folder (two SQLite connections to
 * one file, as two `serve` processes have) and over one PostgreSQL schema, each with its EST
 * port and the portal port's `/.well-known/est`; wrong passcodes from 127.0.0.1 spread over
 * all four listeners; and two real `shomei-ca serve` processes on one data folder. The limit is
 * the data folder's `addressLimit` (30 failures per 15 minutes).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { initCa, serve, workerPids, type TestCa } from "../helpers/ca.js";
import { enroll, makeCsr, type HttpResult } from "../helpers/est.js";
import { startInProcess, testClock, type Clock, type InProcess } from "../helpers/inprocess.js";
import { needs, testSchema } from "../helpers/tools.js";

const LIMIT = 30;
const MIN = 60_000;

/** `target` gives the database (undefined: the data folder's SQLite file), or false when it is not there. */
function addressLimit(name: string, target: () => Promise<{ database?: string } | false>, cleanup: () => Promise<void>): void {
  describe(`per-address failure limit across listeners and instances: ${name}`, { timeout: 300_000 }, () => {
    let ca: TestCa | undefined;
    let clock: Clock;
    const instances: InProcess[] = [];
    let listeners: string[] = [];
    let body = "";
    before(async () => {
      const db = await target();
      if (db === false) return;
      ca = await initCa();
      clock = testClock();
      for (let i = 0; i < 2; i++) instances.push(await startInProcess(ca.dir, clock, { failureLimit: "configured", ...db }));
      listeners = instances.flatMap((s) => [s.estUrl, `${s.portalUrl}/.well-known/est`]);
      body = (await makeCsr("a0000901")).base64;
    });
    after(async () => {
      for (const s of instances) await s.stop();
      ca?.cleanup();
      await cleanup();
    });
    const ready = async (t: Parameters<typeof needs>[0]): Promise<TestCa | undefined> => {
      if (!ca) {
        await needs(t, "postgres");
        return undefined;
      }
      return ca;
    };
    const wrong = (c: TestCa, i: number): Promise<HttpResult> =>
      enroll(listeners[i % listeners.length] ?? "", c.rootPem, `a09${String(i).padStart(5, "0")}`, "2222-3333-4444-5555", body, { "accept-language": "en" });

    test("30 failures spread over both HTTPS ports of two instances: 429 with Retry-After on all four", async (t) => {
      const c = await ready(t);
      if (!c) return;
      for (let i = 0; i < LIMIT; i++) {
        const r = await wrong(c, i);
        assert.equal(r.status, 401, `failure ${i + 1}: ${r.body}`);
      }
      for (let i = 0; i < listeners.length; i++) {
        const r = await wrong(c, i);
        assert.equal(r.status, 429, `${listeners[i]}: ${r.body}`);
        assert.match(r.body, /^\[TOO_MANY_ATTEMPTS\]/);
        assert.equal(r.headers["retry-after"], String(15 * 60));
      }
    });

    test("many failures in flight at once over all four listeners: no more than the limit are evaluated", async (t) => {
      const c = await ready(t);
      if (!c) return;
      clock.advance(15 * MIN); // the window of the test before is over
      const answers = await Promise.all(Array.from({ length: 90 }, (_, i) => wrong(c, i)));
      const statuses = answers.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 401).length, LIMIT, statuses.join(","));
      assert.equal(statuses.filter((s) => s === 429).length, 90 - LIMIT);
    });
  });
}

addressLimit("SQLite, one data folder", () => Promise.resolve({}), () => Promise.resolve());

const pgSchema = testSchema("shomei_limit");
addressLimit(
  "PostgreSQL, one schema",
  async () => { const url = await pgSchema.url(); return url === false ? false : { database: url }; },
  () => pgSchema.drop(),
);

test("two `shomei-ca serve` processes on one data folder: failures in flight on all four listeners, no more than the limit evaluated, then 429 everywhere", { timeout: 300_000 }, async () => {
  const ca = await initCa();
  const servers = [await serve(ca.dir), await serve(ca.dir)];
  try {
    const listeners = servers.flatMap((s) => {
      const portal = /^Portal: (https:\/\/\S+?)\/?$/m.exec(s.output())?.[1];
      assert.ok(portal, s.output());
      return [s.estUrl, `${portal}/.well-known/est`];
    });
    const body = (await makeCsr("a0000901")).base64;
    const wrong = (i: number): Promise<HttpResult> =>
      enroll(listeners[i % listeners.length] ?? "", ca.rootPem, `a09${String(i).padStart(5, "0")}`, "2222-3333-4444-5555", body, { "accept-language": "en" });
    const statuses = (await Promise.all(Array.from({ length: 90 }, (_, i) => wrong(i)))).map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 401).length, LIMIT, statuses.join(","));
    assert.equal(statuses.filter((s) => s === 429).length, 90 - LIMIT);
    for (let i = 0; i < listeners.length; i++) assert.equal((await wrong(i)).status, 429, listeners[i]);
  } finally {
    for (const s of servers) await s.stop();
    ca.cleanup();
  }
});

/** CPU time (clock ticks, user + system) a process has used so far, from /proc. */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

test("`serve --workers 2`: 30 failures spread over both HTTPS ports and both workers, then 429 on both ports from every worker", { timeout: 300_000 }, async () => {
  const ca = await initCa();
  const srv = await serve(ca.dir, ["--workers", "2"]);
  try {
    const portal = /^Portal: (https:\/\/\S+?)\/?$/m.exec(srv.output())?.[1];
    assert.ok(portal, srv.output());
    const listeners = [srv.estUrl, `${portal}/.well-known/est`];
    const pids = await workerPids(srv);
    assert.equal(pids.length, 2);
    const before = pids.map(cpuTicks);
    const body = (await makeCsr("a0000901")).base64;
    // Every request on a new connection: the supervisor hands connections to the workers in turn.
    const wrong = (i: number): Promise<HttpResult> =>
      enroll(listeners[i % 2] ?? "", ca.rootPem, `a09${String(i).padStart(5, "0")}`, "2222-3333-4444-5555", body, { "accept-language": "en" });
    for (let i = 0; i < LIMIT; i++) assert.equal((await wrong(i)).status, 401, `failure ${i + 1} of ${LIMIT} is still evaluated`);
    // Both workers did TLS handshakes and passcode checks (each one's CPU time grew).
    pids.forEach((pid, i) => assert.ok(cpuTicks(pid) > (before[i] ?? 0), `worker ${pid} served some of the failures`));
    // The next four connections per port reach both workers of each port: every one is paused.
    for (let i = 0; i < 8; i++) {
      const r = await wrong(LIMIT + i);
      assert.equal(r.status, 429, `${listeners[i % 2] ?? ""}: ${r.body}`);
      assert.match(r.body, /TOO_MANY_ATTEMPTS/);
    }
  } finally {
    await srv.stop();
    ca.cleanup();
  }
});
