/**
 * `shomei-ca cert list|revoke` against a running service's database: a revocation by the
 * operator's command is refused by the portal at the next request.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { shomeiCa } from "../helpers/run.js";
import { Browserish, startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { realClock } from "../helpers/inprocess.js";

let env: PortalEnv;
before(async () => { env = await startPortalEnv({ clock: realClock() }); });
after(async () => { await env?.stop(); });

test("cert list shows issued certificates; cert revoke takes a serial with colons in any case; the portal refuses it at once", async () => {
  const u = await env.enroll("a0000951");
  const list = await shomeiCa(["cert", "list", "--user", "a0000951", "--json", "--data", env.ca.dir]);
  assert.equal(list.code, 0, list.stderr);
  const rows = JSON.parse(list.stdout) as { serial: string; userId: string; status: string }[];
  assert.deepEqual(rows.map((r) => [r.serial, r.userId, r.status]), [[u.serial, "a0000951", "valid"]]);
  const tab = new Browserish(env.url, env.rootPem, u);
  assert.equal((await tab.get("/")).status, 200);

  const typed = (u.serial.toUpperCase().match(/../g) ?? []).join(":");
  const bad = await shomeiCa(["cert", "revoke", typed, "--reason", "because", "--data", env.ca.dir]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /\[REASON_INVALID\]/);
  const r = await shomeiCa(["cert", "revoke", typed, "--reason", "keyCompromise", "--data", env.ca.dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`Revoked certificate ${u.serial} \\(user ID a0000951\\), reason keyCompromise`));
  assert.equal(Browserish.errorCode(await tab.get("/")), "CERT_REVOKED");

  const again = await shomeiCa(["cert", "revoke", u.serial, "--reason", "superseded", "--data", env.ca.dir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /\[REVOKE_NOT_POSSIBLE\]/);
  const unknown = await shomeiCa(["cert", "revoke", "DEADBEEF", "--reason", "superseded", "--data", env.ca.dir]);
  assert.match(unknown.stderr, /\[REVOKE_NOT_POSSIBLE\].*unknown serial/);
  const text = await shomeiCa(["cert", "list", "--data", env.ca.dir]);
  assert.match(text.stdout, new RegExp(`^${u.serial}\\ta0000951\\t.*\\trevoked\\tkeyCompromise$`, "m"));
  const audit = await env.server.services.store.queryAudit({ userId: "a0000951", event: "certificate.revoke" });
  assert.match(audit[0]?.actor ?? "", /^operator:/);
});
