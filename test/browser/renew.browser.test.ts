/**
 * Renewal in the browser (issue 14): a user whose certificate is in its renewal window presses
 * "Renew certificate" on the user page; the page makes a new key, sends simplereenroll on the
 * portal's listener (Playwright presents the current certificate, "Way A" of
 * shared/docs/browser-testing.md) and offers the new PKCS#12 and the steps, with how to delete
 * the old certificate. The new certificate has a different key; the user page then lists the
 * old one as superseded. Also axe-core on the new pages (ja and en), and their screenshots.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { tempDir } from "../helpers/ca.js";
import { run } from "../helpers/run.js";
import { has, needs } from "../helpers/tools.js";
import {
  alertText, assertAccessible, changePassword, firstLogin, goto, heading, launchChromium, login, pathOf, portalContext, submitWith, textOf,
  type ChromiumHandle,
} from "../helpers/browser.js";

const DAY = 86_400_000;
const BACKUP_PASSWORD = "Sazanka-Tsugumi-2027!";
const WORK_TIMEOUT = 90_000;

async function waitOutcome(page: Page): Promise<"result" | "error"> {
  const shown = await page.waitForSelector("#result:not([hidden]), #error:not([hidden])", { timeout: WORK_TIMEOUT });
  return (await shown.getAttribute("id")) === "result" ? "result" : "error";
}

describe("renewal in the browser from the user page", { timeout: 300_000 }, () => {
  let env: PortalEnv | undefined;
  let chrome: ChromiumHandle | undefined;
  const dirs: string[] = [];

  before(async () => {
    if (!(await has("chromium")) || !(await has("python3"))) return;
    env = await startPortalEnv();
    chrome = await launchChromium();
  });
  after(async () => {
    await chrome?.close();
    await env?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("Renew certificate: a new key and certificate in a .p12, the old one then listed as superseded", async (t) => {
    if (!(await needs(t, "chromium", "python3", "openssl")) || !env || !chrome) return;
    const u = await env.enroll("a0000731");
    const ctx = await portalContext(chrome.browser, env.url, u);
    try {
      const page = await ctx.newPage();
      await firstLogin(page, env.url, u.userId, u.password, "Hagi-Kikyou-2026-Aki!");
      // Far from expiry: no renewal offered.
      assert.equal(await page.locator("#renew-link").count(), 0);

      // 340 days later the renewal window (30 days before expiry) is open.
      env.clock.advance(340 * DAY);
      await goto(page, `${env.url}/me`);
      // The session has long ended: the login page is shown at /me.
      if ((await heading(page)) === "ログイン") await login(page, u.userId, "Hagi-Kikyou-2026-Aki!");
      if (pathOf(page) === "/password") await changePassword(page, "Hagi-Kikyou-2026-Aki!", "Hagi-Kikyou-2027-Haru!");
      assert.equal(pathOf(page), "/me", await alertText(page));
      await submitWith(page, "#renew-link");
      assert.equal(pathOf(page), "/me/renew", await alertText(page));
      assert.equal(await heading(page), "証明書の更新");
      assert.equal(await textOf(page, "#renew-user"), u.userId);

      await page.fill("#password", BACKUP_PASSWORD);
      await page.fill("#passwordConfirm", BACKUP_PASSWORD);
      await page.click("#submit");
      assert.equal(await waitOutcome(page), "result", await alertText(page));
      assert.equal(await textOf(page, "#fp-sha256"), env.ca.rootFingerprint);
      // The "After 2" reminder, for the system shown.
      assert.match(await textOf(page, ".steps:not([hidden])"), /古い証明書/);

      const dir = tempDir("shomei-renew-");
      dirs.push(dir);
      mkdirSync(join(dir, "dl"));
      const [d] = await Promise.all([page.waitForEvent("download"), page.click("#download-p12")]);
      assert.equal(d.suggestedFilename(), `${u.userId}.p12`);
      const file = join(dir, "dl", d.suggestedFilename());
      await d.saveAs(file);
      const certs = await run("openssl", ["pkcs12", "-in", file, "-passin", `pass:${BACKUP_PASSWORD}`, "-nokeys", "-clcerts"]);
      const key = await run("openssl", ["pkcs12", "-in", file, "-passin", `pass:${BACKUP_PASSWORD}`, "-nocerts", "-nodes"]);
      assert.equal(certs.code, 0, certs.stderr);
      assert.equal(key.code, 0, key.stderr);
      const cert = new X509Certificate(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(certs.stdout)![0]);
      const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(key.stdout)![0];
      const spki = (k: ReturnType<typeof createPublicKey>): string => k.export({ format: "der", type: "spki" }).toString("hex");
      assert.equal(spki(createPublicKey(createPrivateKey(keyPem))), spki(cert.publicKey), "the key in the file is the new certificate's");
      assert.notEqual(spki(cert.publicKey), spki(createPublicKey(u.keyPem)), "a new key, not the old one");
      assert.match(cert.subject, new RegExp(`CN=${u.userId}`));
      assert.notEqual(cert.serialNumber.replace(/^0+/, "").toLowerCase(), u.serial.replace(/^0+/, "").toLowerCase());

      // The user page lists the old certificate (still in use in this browser) as superseded, the new one as valid.
      await goto(page, `${env.url}/me?lang=ja`);
      const oldRow = await textOf(page, `main table tr:has(code:text-is("${u.serial}"))`);
      assert.match(oldRow, /更新済み（古い証明書）/);
      const list = await env.server.services.portal.listCertificates(u.userId);
      const fresh = list.find((c) => c.serial !== u.serial);
      assert.ok(fresh);
      assert.match(await textOf(page, `main table tr:has(code:text-is("${fresh.serial}"))`), /有効/);
    } finally {
      await ctx.close();
    }
  });

  test("axe-core: /enroll (form, error, result) and /me/renew, in Japanese and English", async (t) => {
    if (!(await needs(t, "chromium", "python3")) || !env || !chrome) return;
    const est = env.server.url;
    for (const lang of ["ja", "en"] as const) {
      const userId = lang === "ja" ? "a0000741" : "a0000743";
      await env.server.services.registration.addUser({ userId, email: `${userId}@example.jp`, name: `利用者 ${userId}` }, "operator:test");
      const { passcode } = await env.secretsFor(`${userId}@example.jp`);
      assert.ok(passcode);
      const ctx = await portalContext(chrome.browser, est, undefined, { forAxe: true, lang });
      try {
        const page = await ctx.newPage();
        await goto(page, `${est}/enroll?lang=${lang}`);
        await page.waitForSelector("#enroll-form:not([hidden])");
        await assertAccessible(page, `/enroll (${lang})`);
        await page.fill("#userId", userId);
        await page.fill("#passcode", "ABCD");
        await page.click("#submit");
        await page.waitForSelector("#error:not([hidden])");
        await assertAccessible(page, `/enroll with an error (${lang})`);
        await page.fill("#passcode", passcode);
        await page.fill("#password", BACKUP_PASSWORD);
        await page.fill("#passwordConfirm", BACKUP_PASSWORD);
        await page.click("#submit");
        assert.equal(await waitOutcome(page), "result", await alertText(page));
        await assertAccessible(page, `/enroll with the result (${lang})`);
      } finally {
        await ctx.close();
      }
    }
    const u = await env.enroll("a0000742");
    const ctx = await portalContext(chrome.browser, env.url, u, { forAxe: true });
    try {
      const page = await ctx.newPage();
      await firstLogin(page, env.url, u.userId, u.password, "Kikyou-Hagi-2026-Aki!");
      for (const lang of ["ja", "en"] as const) {
        await goto(page, `${env.url}/me/renew?lang=${lang}`);
        await page.waitForSelector("#enroll-form:not([hidden])");
        await assertAccessible(page, `/me/renew (${lang})`);
      }
    } finally {
      await ctx.close();
    }
  });
});
