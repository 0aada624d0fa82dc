/**
 * Portal settings from the operator's config file (shomei.json, "portal"): a different lock
 * threshold with automatic unlock, a longer minimum password length, a shorter idle timeout.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Browserish, startPortalEnv, type PortalEnv } from "../helpers/portal.js";

const MIN = 60_000;
let env: PortalEnv;

before(async () => {
  env = await startPortalEnv({ portalConfig: { maxFailedLogins: 3, autoUnlockMinutes: 15, passwordMinLength: 16, idleMinutes: 5 } });
});

after(async () => {
  await env?.stop();
});

test("3 failures lock; the lock lifts by itself after 15 minutes (audited as automatic)", async () => {
  const u = await env.enroll("a0000601");
  const t = new Browserish(env.url, env.rootPem, u);
  assert.match((await t.login(u.userId, "wrong-1")).body, /2 more failures/);
  await t.login(u.userId, "wrong-2");
  assert.equal(Browserish.errorCode(await t.login(u.userId, "wrong-3")), "ACCOUNT_LOCKED_TEMPORARILY");
  env.clock.advance(14 * MIN);
  const still = await t.login(u.userId, u.password);
  assert.equal(Browserish.errorCode(still), "ACCOUNT_LOCKED_TEMPORARILY");
  assert.match(still.body, /lifts by itself 15 minutes after/);
  env.clock.advance(2 * MIN);
  assert.equal((await t.login(u.userId, u.password)).status, 303);
  const events = await env.server.services.store.queryAudit({ userId: u.userId, event: "login.unlock" });
  assert.deepEqual(events.map((e) => [e.actor, e.detail]), [["system", { automatic: true }]]);
});

test("the minimum password length and the idle timeout come from the config", async () => {
  const u = await env.enroll("a0000602");
  const t = new Browserish(env.url, env.rootPem, u);
  await t.login(u.userId, u.password);
  const form = await t.get("/password");
  assert.match(form.body, /At least 16 characters/);
  const short = await t.postForm("/password", { csrf: Browserish.csrf(form), current: u.password, next: "Fifteen-chars-1", confirm: "Fifteen-chars-1" });
  assert.equal(Browserish.errorCode(short), "PASSWORD_TOO_SHORT");
  const ok = await t.postForm("/password", { csrf: Browserish.csrf(form), current: u.password, next: "Sixteen-chars-12", confirm: "Sixteen-chars-12" });
  assert.equal(ok.status, 303);
  env.clock.advance(6 * MIN);
  assert.equal(Browserish.errorCode(await t.get("/me")), "SESSION_ENDED");
});
