import { test } from "node:test";
import assert from "node:assert/strict";
import { FailureLimiter } from "./failure_limiter.js";

test("the failure limiter blocks an address after its failures and forgets them after the window", () => {
  let now = 0;
  const l = new FailureLimiter({ max: 2, windowMs: 60_000 }, () => now);
  assert.equal(l.blocked("a"), false);
  l.fail("a");
  l.fail("a");
  assert.equal(l.blocked("a"), true);
  assert.equal(l.blocked("b"), false, "other addresses are not affected");
  now = 30_000;
  assert.equal(l.minutesLeft("a"), 1);
  now = 60_000;
  assert.equal(l.blocked("a"), false);
});
