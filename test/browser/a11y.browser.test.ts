/**
 * Accessibility of the portal's pages, checked with axe-core in Chromium: no serious or critical
 * violation (WCAG 2 A/AA rules and axe's best practices) on the login, password-change, user and
 * console pages and on an error page, in Japanese and in English.
 *
 * The contexts here bypass the portal's Content-Security-Policy, only so that axe-core can be
 * injected; the flow tests (portal/console.browser.test.ts) run under the real CSP.
 */
import { describe, test, before, after } from "node:test";
import type { Page } from "playwright-core";
import { OPERATOR_ID, startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { has, needs } from "../helpers/tools.js";
import {
  assertAccessible, changePassword, firstLogin, goto, launchChromium, login, portalContext, submitWith,
  type ChromiumHandle,
} from "../helpers/browser.js";

/** UTF-8 CSV with one good and one bad row, so that the result table has both outcomes. */
const CSV = Buffer.from("user_id,email,name\r\na0000401,a0000401@example.jp,Axe Tester\r\na0000402,broken,Bad Row\r\n", "utf8");

describe("accessibility (axe-core) of the portal's pages", { timeout: 180_000 }, () => {
  let env: PortalEnv | undefined;
  let chrome: ChromiumHandle | undefined;

  before(async () => {
    if (!(await has("chromium")) || !(await has("python3"))) return;
    env = await startPortalEnv();
    chrome = await launchChromium();
  });
  after(async () => {
    await chrome?.close();
    await env?.stop();
  });

  const both = async (page: Page, url: string, label: string): Promise<void> => {
    const sep = url.includes("?") ? "&" : "?";
    await goto(page, `${url}${sep}lang=ja`);
    await assertAccessible(page, `${label} (ja)`);
    await goto(page, `${url}${sep}lang=en`);
    await assertAccessible(page, `${label} (en)`);
  };

  test("error page without a certificate", async (t) => {
    if (!(await needs(t, "chromium", "python3")) || !env || !chrome) return;
    const ctx = await portalContext(chrome.browser, env.url, undefined, { forAxe: true });
    try {
      await both(await ctx.newPage(), `${env.url}/`, "no-certificate error page");
    } finally {
      await ctx.close();
    }
  });

  test("login, password change (with an error shown) and user page", async (t) => {
    if (!(await needs(t, "chromium", "python3")) || !env || !chrome) return;
    const u = await env.enroll("a0000121");
    const ctx = await portalContext(chrome.browser, env.url, u, { forAxe: true });
    try {
      const page = await ctx.newPage();
      await both(page, `${env.url}/`, "login page");
      await goto(page, `${env.url}/?lang=ja`);
      await login(page, u.userId, "wrong-password");
      await assertAccessible(page, "login page with an error");

      await login(page, u.userId, u.password);
      await assertAccessible(page, "password change, forced (ja)");
      await changePassword(page, u.password, "Contains-a0000121-id");
      await assertAccessible(page, "password change with an error (ja)");
      await goto(page, `${env.url}/password?lang=en`);
      await assertAccessible(page, "password change, forced (en)");

      await changePassword(page, u.password, "Tsubame-Kaze-2026-Aki");
      await assertAccessible(page, "user page with the notice (en)");
      await both(page, `${env.url}/me`, "user page");
    } finally {
      await ctx.close();
    }
  });

  test("operator console: users, user detail, bulk registration (form and result), audit log", async (t) => {
    if (!(await needs(t, "chromium", "python3")) || !env || !chrome) return;
    const op = await env.enroll(OPERATOR_ID);
    await env.enroll("a0000122", { name: "監査 三郎" });
    const ctx = await portalContext(chrome.browser, env.url, op, { forAxe: true });
    try {
      const page = await ctx.newPage();
      await firstLogin(page, env.url, OPERATOR_ID, op.password, "Unyou-Kanri-2026-Fuyu");
      await both(page, `${env.url}/console`, "console");
      await both(page, `${env.url}/console/users/a0000122`, "user detail");
      await both(page, `${env.url}/console/bulk`, "bulk registration");
      await goto(page, `${env.url}/console/bulk?lang=ja`);
      await page.setInputFiles("#csv", { name: "users.csv", mimeType: "text/csv", buffer: CSV });
      await submitWith(page, "main form button[type=submit]");
      await assertAccessible(page, "bulk registration result (ja)");
      await both(page, `${env.url}/console/audit`, "audit log");
      await both(page, `${env.url}/console/users/nobody`, "console error page");
    } finally {
      await ctx.close();
    }
  });
});
