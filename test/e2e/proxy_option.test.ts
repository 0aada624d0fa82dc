/**
 * `--proxy URL` (with the proxy's own Basic credentials) for enroll and login-check: the
 * connection goes through the proxy; a wrong proxy password gets the user's-guide message
 * (the proxy's credentials, ask the PC administrator — not the operator's).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { shomei } from "../helpers/run.js";
import { tempDir } from "../helpers/ca.js";
import { startTestProxy, type TestProxy } from "../helpers/client_proxy.js";
import { startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { realClock } from "../helpers/inprocess.js";

let env: PortalEnv;
let proxy: TestProxy;
before(async () => {
  env = await startPortalEnv({ clock: realClock() });
  proxy = await startTestProxy({ user: "proxyuser", password: "proxy-pass" });
});
after(async () => { await proxy?.close(); await env?.stop(); });

test("enroll and login-check through --proxy with the proxy's credentials; a wrong proxy password is PROXY_AUTH_REQUIRED", async () => {
  const email = "a0000971@example.jp";
  await env.server.services.registration.addUser({ userId: "a0000971", email, name: "経由 太郎" }, "operator:test");
  const s = await env.secretsFor(email);
  const store = join(tempDir(), "store");
  const withProxy = (pass: string): string => proxy.url.replace("http://", `http://proxyuser:${pass}@`);
  const enroll = (pass: string): ReturnType<typeof shomei> => shomei(["enroll", "--server", env.server.url, "--user", "a0000971", "--root-fingerprint", env.ca.rootFingerprint,
    "--passcode-stdin", "--store", store, "--proxy", withProxy(pass)], { input: `${s.passcode ?? ""}\n`, env: { NO_PROXY: "127.0.0.1,localhost" } });
  const wrong = await enroll("not-it");
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /\[PROXY_AUTH_REQUIRED\]/);
  assert.match(wrong.stderr, /PC administrator, not the operator/);
  const ok = await enroll("proxy-pass");
  assert.equal(ok.code, 0, ok.stderr);
  const port = new URL(env.server.url).port;
  assert.ok(proxy.connects.some((c) => c.target.endsWith(`:${port}`) && c.authorization === `Basic ${Buffer.from("proxyuser:proxy-pass").toString("base64")}`));
  const login = await shomei(["login-check", "--server", env.url, "--store", store, "--password-stdin", "--proxy", withProxy("proxy-pass")], { input: `${s.password ?? ""}\n` });
  assert.equal(login.code, 0, login.stderr);
  assert.ok(proxy.connects.some((c) => c.target.endsWith(`:${new URL(env.url).port}`)), "login-check went through the proxy too");
});
