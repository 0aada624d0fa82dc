/**
 * The login lockout under parallel requests, through the real portal (real TLS on loopback,
 * the user's real client certificate) on SQLite and on PostgreSQL: the lock test and the count
 * are one conditional update in the database, so requests sent at once cannot all be checked
 * against the state read before the first wrong password was counted.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Browserish, startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { needs, testSchema } from "../helpers/tools.js";

const MAX = 5;

interface Problem { readonly code?: string; readonly outcome?: string }

/** `target` gives the database to use (undefined: the data folder's SQLite file), or false when it is not there. */
function lockout(name: string, target: () => Promise<{ database?: string } | false>, cleanup: () => Promise<void>): void {
  describe(`login lockout in parallel: ${name}`, () => {
    let env: PortalEnv | undefined;
    let skip = false;
    before(async () => {
      const db = await target();
      if (db === false) {
        skip = true;
        return;
      }
      env = await startPortalEnv({ portalConfig: { maxFailedLogins: MAX }, ...db });
    });
    after(async () => {
      await env?.stop();
      await cleanup();
    });
    const ready = async (t: Parameters<typeof needs>[0]): Promise<PortalEnv | undefined> => {
      if (skip) {
        await needs(t, "postgres");
        return undefined;
      }
      if (!env) throw new Error("portal not started");
      return env;
    };

    const wrongPasswords = async (e: PortalEnv, userId: string): Promise<number> =>
      (await e.server.services.store.queryAudit({ userId, event: "login", limit: 1000 }))
        .filter((r) => r.outcome === "failure" && (r.detail as { reason?: string }).reason === "wrong-password")
        // Identical events are one audit row with a count.
        .reduce((n, r) => n + r.count, 0);

    test("60 parallel wrong API logins: at most maxFailedLogins are checked, every other one and then the right password are answered locked", async (t) => {
      const e = await ready(t);
      if (!e) return;
      const u = await e.enroll("a0000701");
      const tab = new Browserish(e.url, e.rootPem, u);
      const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => tab.postJson("/api/v1/login", { userId: u.userId, password: `wrong-${i}` })));
      const codes = answers.map((r) => (JSON.parse(r.body) as Problem).code ?? "ok");
      const failed = codes.filter((c) => c === "LOGIN_FAILED").length;
      assert.ok(failed <= MAX, `${failed} answered LOGIN_FAILED`);
      assert.deepEqual(codes.filter((c) => c !== "LOGIN_FAILED" && c !== "ACCOUNT_LOCKED"), [], "every other answer is ACCOUNT_LOCKED");
      assert.equal(await wrongPasswords(e, u.userId), MAX, "exactly maxFailedLogins passwords were evaluated");
      const right = await tab.postJson("/api/v1/login", { userId: u.userId, password: u.password });
      assert.equal(right.status, 403);
      assert.equal((JSON.parse(right.body) as Problem).code, "ACCOUNT_LOCKED", "the right password after the lock");
      assert.equal((await e.server.services.store.queryAudit({ userId: u.userId, event: "login.lock" })).length, 1, "one lock, audited once");
      const user = await e.server.services.store.getUser(u.userId);
      assert.ok(user?.lockedAt, "the account is locked");
      assert.equal(user.failedLogins, MAX);
      // An operator's unlock opens it again for the right password.
      const now = e.clock.now;
      await e.server.services.store.unlock(u.userId, now, [{ at: now, actor: "operator:test", event: "login.unlock", userId: u.userId, outcome: "success" }]);
      const ok = await tab.postJson("/api/v1/login", { userId: u.userId, password: u.password });
      assert.equal(ok.status, 200, ok.body);
      assert.equal((JSON.parse(ok.body) as Problem).outcome, "ok");
    });

    test("40 parallel wrong web logins: maxFailedLogins checked, the rest locked; the right password then opens no session", async (t) => {
      const e = await ready(t);
      if (!e) return;
      const u = await e.enroll("a0000702");
      const csrf = Browserish.csrf(await new Browserish(e.url, e.rootPem, u).get("/"));
      // Each request from a tab of its own (its own cookie jar), all with the user's certificate.
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) =>
        new Browserish(e.url, e.rootPem, u).postForm("/login", { csrf, userId: u.userId, password: `wrong-${i}` })));
      const codes = answers.map((r) => Browserish.errorCode(r));
      assert.ok(codes.filter((c) => c === "LOGIN_FAILED").length <= MAX);
      assert.deepEqual(codes.filter((c) => c !== "LOGIN_FAILED" && c !== "ACCOUNT_LOCKED"), []);
      assert.equal(await wrongPasswords(e, u.userId), MAX);
      const tab = new Browserish(e.url, e.rootPem, u);
      const right = await tab.login(u.userId, u.password);
      assert.equal(Browserish.errorCode(right), "ACCOUNT_LOCKED");
      assert.equal(tab.jar.size, 0, "no session cookie");
      assert.notEqual((await tab.get("/me")).status, 200);
    });
  });
}

lockout("SQLite", () => Promise.resolve({}), () => Promise.resolve());

const pgSchema = testSchema("shomei_lockout");
lockout(
  "PostgreSQL",
  async () => { const url = await pgSchema.url(); return url === false ? false : { database: url }; },
  () => pgSchema.drop(),
);
