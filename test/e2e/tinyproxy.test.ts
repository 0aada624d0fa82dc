/**
 * Enrollment behind a real company proxy (Debian's tinyproxy with Basic authentication), set
 * the way users are told to set it: HTTPS_PROXY=http://USER:PASSWORD@PROXY:PORT. With the right
 * credentials the certificate is issued through the proxy; with wrong or no credentials the user
 * gets the user's-guide message (the proxy's own credentials: ask the PC administrator, not the
 * operator), and the passcode is not used up.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { shomei } from "../helpers/run.js";
import { tempDir } from "../helpers/ca.js";
import { needs } from "../helpers/tools.js";
import { startTinyproxy, type Tinyproxy } from "../helpers/tinyproxy.js";
import { startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { realClock } from "../helpers/inprocess.js";

let env: PortalEnv | undefined;
let proxy: Tinyproxy | undefined;
before(async () => {
  env = await startPortalEnv({ clock: realClock() });
});
after(async () => { await proxy?.close(); await env?.stop(); });

test("enroll through tinyproxy: wrong and missing proxy credentials say so (and keep the passcode), the right ones enroll", async (t) => {
  if (!(await needs(t, "tinyproxy"))) return;
  assert.ok(env);
  proxy = await startTinyproxy({ user: "proxyuser", password: "proxy-pass" });
  const email = "a0000972@example.jp";
  await env.server.services.registration.addUser({ userId: "a0000972", email, name: "代理 花子" }, "operator:test");
  const s = await env.secretsFor(email);
  const store = join(tempDir(), "store");
  const enroll = (httpsProxy: string): ReturnType<typeof shomei> => shomei(
    ["enroll", "--server", env!.server.url, "--user", "a0000972", "--root-fingerprint", env!.ca.rootFingerprint, "--passcode-stdin", "--store", store],
    // The test runner's own environment may carry a NO_PROXY for loopback: clear it.
    { input: `${s.passcode ?? ""}\n`, env: { HTTPS_PROXY: httpsProxy, https_proxy: "", NO_PROXY: "", no_proxy: "" } },
  );

  // tinyproxy answers 407 without credentials and 401 with wrong ones: both are the proxy's.
  for (const httpsProxy of [proxy.url, proxy.withCredentials("proxyuser", "N0t-The-Pass")]) {
    const r = await enroll(httpsProxy);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /\[PROXY_AUTH_REQUIRED\]/);
    assert.match(r.stderr, /ask your PC administrator, not the operator/);
    assert.doesNotMatch(r.stderr, /N0t-The-Pass/, "the proxy password is not echoed");
  }

  const ok = await enroll(proxy.withCredentials("proxyuser", "proxy-pass"));
  assert.equal(ok.code, 0, ok.stderr);
  const port = new URL(env.server.url).port;
  assert.match(proxy.log(), new RegExp(`CONNECT .*127\\.0\\.0\\.1:${port}`), "the enrollment went through tinyproxy");
  const list = await shomei(["list", "--store", store, "--json"]);
  assert.equal(list.code, 0, list.stderr);
  const certs = JSON.parse(list.stdout) as { userId: string }[];
  assert.deepEqual(certs.map((c) => c.userId), ["a0000972"]);

  // NO_PROXY names the server: the connection goes direct even with a proxy set.
  const before = proxy.log().length;
  const direct = await shomei(["login-check", "--server", env.url, "--store", store, "--password-stdin"],
    { input: `${s.password ?? ""}\n`, env: { HTTPS_PROXY: proxy.url, https_proxy: "", NO_PROXY: "127.0.0.1", no_proxy: "" } });
  assert.equal(direct.code, 0, direct.stderr);
  assert.doesNotMatch(proxy.log().slice(before), /CONNECT/, "NO_PROXY bypassed the proxy");
});
