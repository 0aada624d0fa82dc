/**
 * `shomei list --check-revocation`: the list asks the CA's OCSP responder (named in each
 * certificate) and shows a revoked certificate as revoked; without the option nothing offline
 * can know it. A responder that cannot be reached is said on stderr, and the list still shown.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { shomei, shomeiCa } from "../helpers/run.js";
import { startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { realClock } from "../helpers/inprocess.js";

interface Row { serial: string; status: string; current: boolean; revocation?: { status: string; reason?: string; revokedAt?: string; why?: string } | null }

let env: PortalEnv | undefined;
before(async () => { env = await startPortalEnv({ clock: realClock() }); });
after(async () => { await env?.stop(); });

async function listJson(store: string, extra: readonly string[] = []): Promise<Row[]> {
  const r = await shomei(["list", "--json", "--store", store, ...extra], { env: { HTTPS_PROXY: "", HTTP_PROXY: "", https_proxy: "", http_proxy: "" } });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Row[];
}

test("good, then revoked after `shomei-ca cert revoke`; offline the list cannot know; an unreachable responder is a note, not a failure", async () => {
  assert.ok(env);
  const u = await env.enrollWithCli("a0000191");
  const [before] = await listJson(u.store, ["--check-revocation"]);
  assert.ok(before);
  assert.equal(before.status, "valid");
  assert.equal(before.revocation?.status, "good");

  const rv = await shomeiCa(["cert", "revoke", before.serial, "--reason", "keyCompromise", "--data", env.ca.dir]);
  assert.equal(rv.code, 0, rv.stderr);

  const [offline] = await listJson(u.store);
  assert.equal(offline?.status, "valid", "without asking, nothing offline knows");
  assert.equal(offline?.revocation, undefined);

  const [after] = await listJson(u.store, ["--check-revocation"]);
  assert.equal(after?.status, "revoked");
  assert.equal(after?.current, false, "a revoked certificate is not the one to use");
  assert.equal(after?.revocation?.status, "revoked");
  assert.equal(after?.revocation?.reason, "keyCompromise");
  assert.match(after?.revocation?.revokedAt ?? "", /^\d{4}-\d\d-\d\dT/);

  const ja = await shomei(["list", "--check-revocation", "--store", u.store], { env: { LANG: "ja_JP.UTF-8", HTTPS_PROXY: "", HTTP_PROXY: "" } });
  assert.equal(ja.code, 0, ja.stderr);
  assert.match(ja.stdout, new RegExp(`${before.serial}.*失効`));

  await env.stop();
  env = undefined;
  const down = await shomei(["list", "--check-revocation", "--store", u.store, "--lang", "en"], { env: { HTTPS_PROXY: "", HTTP_PROXY: "" } });
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stderr, new RegExp(`Note: whether certificate ${before.serial} is revoked could not be checked: `));
  assert.match(down.stdout, new RegExp(before.serial));
});
