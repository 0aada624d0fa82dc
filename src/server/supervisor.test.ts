/** The supervisor's restart backoff (CRLs reach the workers through the database, not over IPC). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { restartDelay } from "./supervisor.js";

test("a worker that dies is replaced at once; one that keeps dying waits longer each time, at most 30 s", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 20].map(restartDelay), [0, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
});
