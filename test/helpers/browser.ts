/**
 * A real browser for the portal's acceptance tests: Debian's Chromium driven by playwright-core
 * (nothing is downloaded), see shared/docs/browser-testing.md.
 *
 * The client certificate is given with Playwright's `clientCertificates` context option ("Way A"
 * of that document): Playwright's own TLS proxy, in this Node process, does the handshake with
 * the portal and presents the certificate; Chromium talks to that proxy. So these tests check
 * the pages and flows a user goes through with a certificate, NOT Chromium's own certificate
 * store (NSS) or Chromium's TLS stack — that is tested separately with an NSS database.
 * `ignoreHTTPSErrors` is needed because the proxy would otherwise not trust the test root
 * (Playwright connects with rejectUnauthorized = !ignoreHTTPSErrors); it also switches off
 * Chromium's own server-certificate checks for the context.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type { AxeResults, Result as AxeResult } from "axe-core";

export const CHROMIUM = "/usr/bin/chromium";
/** Every navigation and action gives up after this long (headless Chromium can wait forever for a certificate choice). */
export const STEP_TIMEOUT = 15_000;

const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

export interface ChromiumHandle {
  readonly browser: Browser;
  close(): Promise<void>;
}

/**
 * Chromium with a throwaway HOME, so its NSS database ($HOME/.pki/nssdb) is empty: without a
 * `clientCertificates` option the browser really has no certificate to present.
 */
export async function launchChromium(): Promise<ChromiumHandle> {
  const home = mkdtempSync(join(tmpdir(), "shomei-chromium-"));
  try {
    const browser = await chromium.launch({
      executablePath: CHROMIUM, args: ARGS, timeout: 60_000,
      env: { ...process.env, HOME: home },
    });
    return {
      browser,
      async close() {
        await browser.close().catch(() => undefined);
        rmSync(home, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(home, { recursive: true, force: true });
    throw e;
  }
}

export interface CertFiles {
  readonly certPath: string;
  readonly keyPath: string;
}

export interface ContextOptions {
  /** The browser's language (Accept-Language): ja-JP or en-US. Default ja. */
  readonly lang?: "ja" | "en";
  /**
   * Ignore the page's Content-Security-Policy (`default-src 'none'`), only so that axe-core can
   * be injected. Never for the flow tests: they run under the real CSP.
   */
  readonly forAxe?: boolean;
  readonly viewport?: { width: number; height: number };
}

/** A browser context (a fresh profile: no cookies) for the portal at `origin`, presenting `cert` when given. */
export async function portalContext(browser: Browser, origin: string, cert: CertFiles | undefined, o: ContextOptions = {}): Promise<BrowserContext> {
  const ctx = await browser.newContext({
    ignoreHTTPSErrors: true,
    ...(cert ? { clientCertificates: [{ origin, certPath: cert.certPath, keyPath: cert.keyPath }] } : {}),
    locale: o.lang === "en" ? "en-US" : "ja-JP",
    ...(o.forAxe ? { bypassCSP: true } : {}),
    ...(o.viewport ? { viewport: o.viewport } : {}),
  });
  ctx.setDefaultTimeout(STEP_TIMEOUT);
  ctx.setDefaultNavigationTimeout(STEP_TIMEOUT);
  return ctx;
}

/** Navigates and fails (instead of hanging) when the page does not load in time. */
export async function goto(page: Page, url: string): Promise<number | undefined> {
  const r = await page.goto(url, { timeout: STEP_TIMEOUT, waitUntil: "load" });
  return r?.status();
}

/** Clicks something that submits a form and waits until the next page has loaded. */
export async function submitWith(page: Page, selector: string): Promise<void> {
  await Promise.all([
    page.waitForNavigation({ timeout: STEP_TIMEOUT, waitUntil: "load" }),
    page.click(selector, { timeout: STEP_TIMEOUT }),
  ]);
}

/** The path (and query) of the page now shown. */
export function pathOf(page: Page): string {
  const u = new URL(page.url());
  return u.pathname + u.search;
}

/** The text of the first element matching `selector`, whitespace collapsed; "" when there is none. */
export async function textOf(page: Page, selector: string): Promise<string> {
  const l = page.locator(selector).first();
  if ((await l.count()) === 0) return "";
  return ((await l.innerText()) ?? "").replace(/\s+/g, " ").trim();
}

export async function heading(page: Page): Promise<string> {
  return textOf(page, "h1");
}

/** The text of the alert box (role=alert), "" when none is shown. */
export async function alertText(page: Page): Promise<string> {
  return textOf(page, "[role=alert]");
}

/** The error code shown to the user (エラーコード: X / Error code: X), if any. */
export async function errorCode(page: Page): Promise<string | undefined> {
  return /(?:Error code|エラーコード): ([A-Z_]+)/.exec(await alertText(page))?.[1];
}

/** Types the user ID and password on the login page and presses the login button. */
export async function login(page: Page, userId: string, password: string): Promise<void> {
  await page.fill("#userId", userId);
  await page.fill("#password", password);
  await submitWith(page, "main form button[type=submit]");
}

/** Fills the password-change form and submits it. */
export async function changePassword(page: Page, current: string, next: string, confirm = next): Promise<void> {
  await page.fill("#current", current);
  await page.fill("#next", next);
  await page.fill("#confirm", confirm);
  await submitWith(page, "main form button[type=submit]");
}

/** Opens the portal, logs in with the initial password and sets `next`; ends on /me. */
export async function firstLogin(page: Page, origin: string, userId: string, initial: string, next: string): Promise<void> {
  await goto(page, `${origin}/`);
  await login(page, userId, initial);
  assert.equal(pathOf(page), "/password", `after the first login of ${userId}: ${await alertText(page)}`);
  await changePassword(page, initial, next);
  assert.equal(new URL(page.url()).pathname, "/me", `after the password change of ${userId}: ${await alertText(page)}`);
}

// ---- accessibility ---------------------------------------------------------------------------

let axeSource: string | undefined;

/** Runs axe-core on the page (the context must have been made with forAxe); returns the serious and critical violations. */
export async function seriousViolations(page: Page): Promise<AxeResult[]> {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  if (!(await page.evaluate(() => "axe" in globalThis))) await page.addScriptTag({ content: axeSource });
  const results = await page.evaluate(async () => {
    const g = globalThis as unknown as { axe: { run(o: object): Promise<AxeResults> } };
    return g.axe.run({ resultTypes: ["violations"] });
  });
  return results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** Asserts that axe-core finds no serious or critical violation; the message lists each with its targets. */
export async function assertAccessible(page: Page, label: string): Promise<void> {
  const bad = await seriousViolations(page);
  const describe = bad.map((v) => `- ${v.id} (${v.impact}): ${v.help}\n${v.nodes.map((n) => `    ${JSON.stringify(n.target)} ${n.failureSummary?.replace(/\s+/g, " ") ?? ""}`).join("\n")}`).join("\n");
  assert.equal(bad.length, 0, `${label} (${pathOf(page)}): ${bad.length} serious/critical accessibility violations:\n${describe}`);
}
