/**
 * The portal in a real browser (Chromium through playwright-core), as a user goes through it:
 * first login with the initial password, the forced password change, the user page, logout;
 * and the pages that tell a user what is wrong (no certificate, another user's certificate,
 * a certificate from another CA), in Japanese and English.
 *
 * The certificate is presented by Playwright's TLS proxy (see test/helpers/browser.ts): these
 * tests do not exercise Chromium's own certificate store.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startPortalEnv, type PortalEnv, type PortalUser } from "../helpers/portal.js";
import { tempDir } from "../helpers/ca.js";
import { has, needs } from "../helpers/tools.js";
import { makeTestCa, issueClientCert, DAY } from "../helpers/client_pki.js";
import { generateKeyPair, exportPrivateKeyPem } from "../../src/pki/keys.js";
import { toPem } from "../../src/pki/pem.js";
import {
  alertText, changePassword, errorCode, goto, heading, launchChromium, login, pathOf, portalContext, submitWith, textOf,
  type ChromiumHandle,
} from "../helpers/browser.js";

const HELPDESK = "helpdesk@example.jp";

describe("portal in Chromium: login, password change, user page, error pages", { timeout: 180_000 }, () => {
  let env: PortalEnv | undefined;
  let chrome: ChromiumHandle | undefined;

  before(async () => {
    if (!(await has("chromium"))) return;
    env = await startPortalEnv();
    chrome = await launchChromium();
  });
  after(async () => {
    await chrome?.close();
    await env?.stop();
  });

  /** A user with a name and organisation of their own, registered and enrolled. */
  const userWithOrg = async (e: PortalEnv, userId: string, name: string, organization: string): Promise<PortalUser> => {
    await e.server.services.registration.addUser({ userId, email: `${userId}@example.jp`, name, organization, role: "user" }, "operator:test");
    return e.enroll(userId, { register: false });
  };

  test("first login: forced password change, a rule broken is named, then the user page; logout ends the session", async (t) => {
    if (!(await needs(t, "chromium")) || !env || !chrome) return;
    const u = await userWithOrg(env, "a0000101", "山田 花子", "経理部");
    const ctx = await portalContext(chrome.browser, env.url, u);
    try {
      const page = await ctx.newPage();
      assert.equal(await goto(page, `${env.url}/`), 200);
      assert.equal(await heading(page), "ログイン");
      assert.match(await textOf(page, "main"), new RegExp(`使用中の証明書: a0000101 \\(シリアル番号 ${u.serial}\\)`));

      await login(page, "a0000101", u.password);
      assert.equal(pathOf(page), "/password", await alertText(page));
      assert.equal(await heading(page), "パスワードの変更");
      assert.equal(await textOf(page, ".notice"), "初期パスワードでログインしました。続けるには新しいパスワードを設定してください。");

      // Too short: the browser itself refuses (minlength) and the page stays.
      await page.fill("#current", u.password);
      await page.fill("#next", "Short-1");
      await page.fill("#confirm", "Short-1");
      await page.click("main form button[type=submit]");
      assert.equal(await page.$eval("#next", (el) => (el as unknown as { validity: { tooShort: boolean } }).validity.tooShort), true);
      assert.notEqual(await page.$eval("#next", (el) => (el as unknown as { validationMessage: string }).validationMessage), "");
      assert.equal(pathOf(page), "/password");
      assert.equal(await alertText(page), "", "nothing was sent to the server");

      // The server's rule, as a browser that ignores minlength would get it.
      await page.$eval("main form", (f) => { (f as unknown as { noValidate: boolean }).noValidate = true; });
      await changePassword(page, u.password, "Short-1");
      assert.equal(await errorCode(page), "PASSWORD_TOO_SHORT");
      assert.match(await alertText(page), /新しいパスワードが短すぎます（12 文字以上）/);
      assert.equal(await heading(page), "パスワードの変更", "still on the change form");

      // A rule only the server knows: the password contains the user ID.
      await changePassword(page, u.password, "Haru-a0000101-Sakura");
      assert.equal(await errorCode(page), "PASSWORD_CONTAINS_USER_ID");
      assert.match(await alertText(page), /新しいパスワードにユーザID が含まれています/);
      assert.equal(await textOf(page, ".notice"), "初期パスワードでログインしました。続けるには新しいパスワードを設定してください。", "the change is still required");

      // The user page cannot be reached before the change.
      await goto(page, `${env.url}/me`);
      assert.equal(pathOf(page), "/password");

      await changePassword(page, u.password, "Kawasemi-Sakura-2026!");
      assert.equal(pathOf(page), "/me?done=password", await alertText(page));
      assert.equal(await heading(page), "マイページ");
      assert.equal(await textOf(page, "[role=status]"), "パスワードを変更しました。");
      const dl = await textOf(page, "main dl");
      assert.match(dl, /ユーザID a0000101/);
      assert.match(dl, /氏名 山田 花子/);
      assert.match(dl, /組織 経理部/);
      const row = await textOf(page, `main table tr:has(code:text-is("${u.serial}"))`);
      assert.match(row, /\(使用中\)/, `the certificate in use is marked: ${row}`);
      assert.match(row, /有効/);

      await submitWith(page, "nav form button[type=submit]");
      assert.equal(pathOf(page), "/?done=logout");
      assert.equal(await heading(page), "ログイン");
      assert.equal(await textOf(page, "[role=status]"), "ログアウトしました。");

      assert.equal(await goto(page, `${env.url}/me`), 401);
      assert.equal(await heading(page), "ログイン", "after logout /me shows the login page");
      assert.doesNotMatch(await textOf(page, "main"), /山田 花子/);

      // And the new password works.
      await goto(page, `${env.url}/`);
      await login(page, "a0000101", "Kawasemi-Sakura-2026!");
      assert.equal(pathOf(page), "/me");
    } finally {
      await ctx.close();
    }
  });

  test("no certificate: the page says so, what to do and whom to ask; English on request", async (t) => {
    if (!(await needs(t, "chromium")) || !env || !chrome) return;
    // No clientCertificates and an empty NSS database: Chromium has nothing to present.
    const ctx = await portalContext(chrome.browser, env.url, undefined);
    try {
      const page = await ctx.newPage();
      assert.equal(await goto(page, `${env.url}/`), 403);
      assert.equal(await heading(page), "ご利用いただけません");
      assert.equal(await errorCode(page), "CERT_REQUIRED");
      const alert = await alertText(page);
      assert.match(alert, /クライアント証明書が提示されていません。/);
      assert.match(alert, /対処: 証明書発行アプリケーション（shomei enroll）で証明書を取得し/);
      assert.equal(await textOf(page, "footer"), `お問い合わせ先: ${HELPDESK}`);
      assert.equal(await page.getAttribute("html", "lang"), "ja");

      await submitWith(page, "header a:text-is('English')");
      assert.equal(pathOf(page), "/?lang=en");
      assert.equal(await page.getAttribute("html", "lang"), "en");
      assert.equal(await heading(page), "This page cannot be used");
      assert.match(await alertText(page), /No client certificate was presented\..*What to do: Get your certificate with the issuance application \(shomei enroll\).*Error code: CERT_REQUIRED/);
      assert.equal(await textOf(page, "footer"), `Helpdesk: ${HELPDESK}`);

      // The choice is remembered (cookie) for the next page, and the switch leads back.
      await goto(page, `${env.url}/me`);
      assert.equal(await heading(page), "This page cannot be used");
      await submitWith(page, "header a:text-is('日本語')");
      assert.equal(await heading(page), "ご利用いただけません");
    } finally {
      await ctx.close();
    }
  });

  test("another user's certificate: typing your own ID is refused with LOGIN_USER_MISMATCH", async (t) => {
    if (!(await needs(t, "chromium")) || !env || !chrome) return;
    const a = await env.enroll("a0000102");
    const b = await env.enroll("a0000103");
    const ctx = await portalContext(chrome.browser, env.url, a);
    try {
      const page = await ctx.newPage();
      await goto(page, `${env.url}/`);
      await login(page, "a0000103", b.password);
      assert.equal(await errorCode(page), "LOGIN_USER_MISMATCH");
      assert.match(await alertText(page), /入力されたユーザID「a0000103」は、提示された証明書のユーザID「a0000102」と一致しません。/);
      assert.equal(await heading(page), "ログイン", "the login form is shown again");
      assert.equal(pathOf(page), "/login");
      // Not a session: /me still asks to log in.
      await goto(page, `${env.url}/me`);
      assert.equal(await heading(page), "ログイン");
    } finally {
      await ctx.close();
    }
  });

  test("a certificate from another CA: CERT_OTHER_CA names the issuer; English too", async (t) => {
    if (!(await needs(t, "chromium")) || !env || !chrome) return;
    const other = await makeTestCa({ organization: "Other Org" });
    const key = await generateKeyPair();
    const now = new Date();
    const der = await issueClientCert(other, { publicKey: key.publicKey, commonName: "a0000102", notBefore: new Date(now.getTime() - DAY), notAfter: new Date(now.getTime() + 30 * DAY) });
    const dir = tempDir("shomei-otherca-");
    const files = { certPath: join(dir, "cert.pem"), keyPath: join(dir, "key.pem") };
    writeFileSync(files.certPath, toPem(der, "CERTIFICATE"));
    writeFileSync(files.keyPath, exportPrivateKeyPem(key.privateKey), { mode: 0o600 });
    const ctx = await portalContext(chrome.browser, env.url, files, { lang: "en" });
    try {
      const page = await ctx.newPage();
      assert.equal(await goto(page, `${env.url}/`), 403);
      assert.equal(await errorCode(page), "CERT_OTHER_CA");
      assert.equal(await heading(page), "This page cannot be used", "an English browser gets English");
      assert.match(await alertText(page), /was not issued by this service's CA \(issuer: .*Other Org/);
      assert.match(await alertText(page), /What to do: Restart the browser/);
      assert.equal(await textOf(page, "footer"), `Helpdesk: ${HELPDESK}`);
      await submitWith(page, "header a:text-is('日本語')");
      assert.equal(await errorCode(page), "CERT_OTHER_CA");
      assert.match(await alertText(page), /このサービスの認証局が発行したものではありません/);
    } finally {
      await ctx.close();
    }
  });
});
