/** The supervisor's restart backoff and the CRL's trip over IPC (JSON). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fromWireCrl, restartDelay, toWireCrl } from "./supervisor.js";

test("a worker that dies is replaced at once; one that keeps dying waits longer each time, at most 30 s", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 20].map(restartDelay), [0, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
});

test("a CRL handed to a worker arrives with the same bytes, number and dates", () => {
  const crl = { der: Buffer.from([0x30, 0x03, 1, 2, 3]), thisUpdate: new Date("2026-12-04T10:00:00Z"), nextUpdate: new Date("2026-12-05T10:00:00Z"), crlNumber: 1796400000123n, etag: "\"abc\"" };
  const back = fromWireCrl(JSON.parse(JSON.stringify(toWireCrl(crl))) as ReturnType<typeof toWireCrl>);
  assert.deepEqual(back, crl);
});
