/**
 * The browser page follows the service's key kind: with `keyKind: "rsa-2048"` in shomei.json
 * (published in /.well-known/shomei.json), /enroll makes an RSA 2048 key with WebCrypto and the
 * .p12 holds it. Playwright's clientCertificates are not needed here (the EST listener asks for
 * none); ignoreHTTPSErrors stands in for the root a PC would trust (see enroll.browser.test.ts
 * for the run with Chromium's own NSS trust).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { tempDir } from "../helpers/ca.js";
import { run } from "../helpers/run.js";
import { has, needs } from "../helpers/tools.js";
import { alertText, goto, launchChromium, portalContext, type ChromiumHandle } from "../helpers/browser.js";

const PASSWORD = "Tsubaki-Hibari-2026!";
let env: PortalEnv | undefined;
let chrome: ChromiumHandle | undefined;
let dir: string | undefined;

before(async () => {
  if (!(await has("chromium")) || !(await has("python3"))) return;
  env = await startPortalEnv({ config: { keyKind: "rsa-2048" } });
  chrome = await launchChromium();
  dir = tempDir("shomei-rsa-");
});
after(async () => {
  await chrome?.close();
  await env?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("with keyKind rsa-2048 the page makes an RSA 2048 key, and the .p12 holds it", { timeout: 180_000 }, async (t) => {
  if (!(await needs(t, "chromium", "python3", "openssl")) || !env || !chrome || !dir) return;
  const userId = "a0000751";
  await env.server.services.registration.addUser({ userId, email: `${userId}@example.jp`, name: "利用者" }, "operator:test");
  const { passcode } = await env.secretsFor(`${userId}@example.jp`);
  assert.ok(passcode);
  const ctx = await portalContext(chrome.browser, env.server.url, undefined, {});
  try {
    const page = await ctx.newPage();
    await goto(page, `${env.server.url}/enroll`);
    assert.equal(await page.getAttribute("#enroll-form", "data-key-kind"), "rsa-2048");
    await page.fill("#userId", userId);
    await page.fill("#passcode", passcode);
    await page.fill("#password", PASSWORD);
    await page.fill("#passwordConfirm", PASSWORD);
    await page.click("#submit");
    const shown = await page.waitForSelector("#result:not([hidden]), #error:not([hidden])", { timeout: 90_000 });
    assert.equal(await shown.getAttribute("id"), "result", await alertText(page));
    mkdirSync(join(dir, "dl"), { recursive: true });
    const [d] = await Promise.all([page.waitForEvent("download"), page.click("#download-p12")]);
    const file = join(dir, "dl", d.suggestedFilename());
    await d.saveAs(file);
    const key = await run("openssl", ["pkcs12", "-in", file, "-passin", `pass:${PASSWORD}`, "-nocerts", "-nodes"]);
    assert.equal(key.code, 0, key.stderr);
    const k = createPrivateKey(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(key.stdout)![0]);
    assert.equal(k.asymmetricKeyType, "rsa");
    assert.equal(k.asymmetricKeyDetails?.modulusLength, 2048);
  } finally {
    await ctx.close();
  }
});
