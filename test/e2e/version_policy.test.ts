/**
 * The service's minimum client version: published in /.well-known/shomei.json and checked by
 * `shomei enroll` before the passcode is used (a too-old client changes nothing).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { shomei } from "../helpers/run.js";
import { tempDir } from "../helpers/ca.js";
import { estRequest } from "../helpers/est.js";
import { startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { realClock } from "../helpers/inprocess.js";
import { compareVersions } from "../../src/client/version_policy.js";

let env: PortalEnv;
before(async () => { env = await startPortalEnv({ clock: realClock(), config: { minClientVersion: "99.0.0" } }); });
after(async () => { await env?.stop(); });

test("versions compare numerically", () => {
  assert.equal(compareVersions("0.10.0", "0.9.9"), 1);
  assert.equal(compareVersions("1.0.0", "1.0.0"), 0);
  assert.equal(compareVersions("1.0.0-rc.1", "1.0.0"), -1);
  assert.equal(compareVersions("0.1.0", "99.0.0"), -1);
});

test("the service publishes its minimum; a too-old shomei refuses to enroll and the passcode stays unused", async () => {
  const d = await estRequest(`${env.server.url}/.well-known`, "shomei.json", env.ca.rootPem);
  assert.equal(d.status, 200);
  assert.equal((JSON.parse(d.body) as { minClientVersion: string }).minClientVersion, "99.0.0");
  const email = "a0000961@example.jp";
  await env.server.services.registration.addUser({ userId: "a0000961", email, name: "古い 版" }, "operator:test");
  const s = await env.secretsFor(email);
  const store = join(tempDir(), "store");
  const r = await shomei(["enroll", "--server", env.server.url, "--user", "a0000961", "--root-fingerprint", env.ca.rootFingerprint, "--passcode-stdin", "--store", store],
    { input: `${s.passcode ?? ""}\n` });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[CLIENT_TOO_OLD\]/);
  assert.match(r.stderr, /needs 99\.0\.0 or later/);
  assert.match(r.stderr, /npm install -g shomei@latest/);
  assert.equal(existsSync(join(store, "certs")), false);
  assert.equal((await env.server.services.store.getPasscode("a0000961"))?.status, "active");
});
