/**
 * `npm run screenshots`: full-page PNGs of the portal's main pages, in Japanese and English,
 * into docs/screenshots/. Starts a throwaway CA and service (as the browser tests do), enrolls
 * the operator and two users, walks through the pages with Chromium and cleans up.
 *
 * Needs /usr/bin/chromium and python3 (the test helpers read the outbox with it), and a Japanese
 * font (apt-get install -y fonts-noto-cjk), or the Japanese pages show empty boxes.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join, relative } from "node:path";
import type { Browser, Page } from "playwright-core";
import { OPERATOR_ID, startPortalEnv, type PortalEnv, type PortalUser } from "./helpers/portal.js";
import { ROOT } from "./helpers/run.js";
import { has } from "./helpers/tools.js";
import { changePassword, firstLogin, goto, launchChromium, login, pathOf, portalContext, submitWith, type ChromiumHandle } from "./helpers/browser.js";

type Lang = "ja" | "en";

const OUT = join(ROOT, "docs", "screenshots");
const VIEWPORT = { width: 1100, height: 800 };
const OPERATOR_PASSWORD = "Unyou-Kanri-2026-Haru";

/** Shift_JIS (cp932) "ユーザID,メールアドレス,氏名,組織名\r\na0000301,a0000301@example.jp,髙橋 ソラ,㈱総務部\r\na0000302,not-an-e-mail,鈴木 一郎,\r\n". */
const CSV_JA = Buffer.from(
  "8386815b835549442c8381815b838b83418368838c83582c8e8196bc2c9167904496bc0d0a" +
    "61303030303330312c6130303030333031406578616d706c652e6a702ceee08bb420835c83892c878a918d96b195940d0a" +
    "61303030303330322c6e6f742d616e2d652d6d61696c2c97e996d82088ea98592c0d0a",
  "hex",
);
const CSV_EN = Buffer.from(
  "user_id,email,name,organization\r\na0000311,a0000311@example.jp,Sora Takahashi,General Affairs\r\na0000312,not-an-e-mail,Ichiro Suzuki,\r\n",
  "utf8",
);

const USERS: Record<Lang, { userId: string; name: string; organization: string; password: string }> = {
  ja: { userId: "a0000101", name: "山田 花子", organization: "経理部", password: "Kawasemi-Sakura-2026!" },
  en: { userId: "a0000102", name: "Hanako Yamada", organization: "Accounting", password: "Kingfisher-Blossom-2026!" },
};

const written: string[] = [];

async function shoot(page: Page, name: string): Promise<void> {
  const path = join(OUT, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  written.push(path);
}

async function userPages(env: PortalEnv, browser: Browser, lang: Lang, u: PortalUser): Promise<void> {
  const ctx = await portalContext(browser, env.url, u, { lang, viewport: VIEWPORT });
  try {
    const page = await ctx.newPage();
    await goto(page, `${env.url}/`);
    await shoot(page, `${lang}-login`);
    await login(page, u.userId, u.password);
    if (pathOf(page) !== "/password") throw new Error(`expected the password page, got ${page.url()}`);
    await shoot(page, `${lang}-password-change`);
    // The same form with a rule broken, as a user sees it.
    await changePassword(page, u.password, `Haru-${u.userId}-Sakura`);
    await shoot(page, `${lang}-password-error`);
    await changePassword(page, u.password, USERS[lang].password);
    await shoot(page, `${lang}-me`);
  } finally {
    await ctx.close();
  }
}

async function operatorPages(env: PortalEnv, browser: Browser, lang: Lang, op: PortalUser, first: boolean, userId: string): Promise<void> {
  const ctx = await portalContext(browser, env.url, op, { lang, viewport: VIEWPORT });
  try {
    const page = await ctx.newPage();
    if (first) {
      await firstLogin(page, env.url, OPERATOR_ID, op.password, OPERATOR_PASSWORD);
    } else {
      await goto(page, `${env.url}/`);
      await login(page, OPERATOR_ID, OPERATOR_PASSWORD);
    }
    await goto(page, `${env.url}/console`);
    await shoot(page, `${lang}-console`);
    await goto(page, `${env.url}/console/users/${userId}`);
    await shoot(page, `${lang}-console-user`);
    await goto(page, `${env.url}/console/bulk`);
    await page.setInputFiles("#csv", { name: "users.csv", mimeType: "text/csv", buffer: lang === "ja" ? CSV_JA : CSV_EN });
    await submitWith(page, "main form button[type=submit]");
    await shoot(page, `${lang}-bulk-result`);
    await goto(page, `${env.url}/console/audit`);
    await shoot(page, `${lang}-audit`);
  } finally {
    await ctx.close();
  }
}

async function errorPages(env: PortalEnv, browser: Browser, lang: Lang): Promise<void> {
  const ctx = await portalContext(browser, env.url, undefined, { lang, viewport: VIEWPORT });
  try {
    const page = await ctx.newPage();
    await goto(page, `${env.url}/`);
    await shoot(page, `${lang}-error-no-certificate`);
  } finally {
    await ctx.close();
  }
}

/** The browser enrollment page (/enroll): the form as typed, a refused passcode, the result; and /me/renew. */
async function enrollPages(env: PortalEnv, browser: Browser, lang: Lang, u: PortalUser): Promise<void> {
  const userId = lang === "ja" ? "a0000105" : "a0000106";
  await env.server.services.registration.addUser({ userId, email: `${userId}@example.jp`, name: `利用者 ${userId}`, role: "user", lang }, "operator:screenshots");
  const { passcode } = await env.secretsFor(`${userId}@example.jp`);
  if (!passcode) throw new Error(`no passcode mail for ${userId}`);
  const ctx = await portalContext(browser, env.server.url, undefined, { lang, viewport: VIEWPORT });
  try {
    const page = await ctx.newPage();
    await goto(page, `${env.server.url}/enroll`);
    await page.waitForSelector("#enroll-form:not([hidden])");
    await page.fill("#userId", userId.toUpperCase());
    await page.fill("#passcode", passcode.replace(/-/g, "").toLowerCase().slice(0, 14));
    await page.fill("#password", USERS[lang].password);
    await page.fill("#passwordConfirm", USERS[lang].password);
    await page.click("#submit");
    await page.waitForSelector("#error:not([hidden])");
    await shoot(page, `${lang}-enroll-error`);
    await page.fill("#passcode", passcode.replace(/-/g, "").toLowerCase());
    await shoot(page, `${lang}-enroll`);
    await page.click("#submit");
    await page.waitForSelector("#result:not([hidden])", { timeout: 90_000 });
    await shoot(page, `${lang}-enroll-done`);
  } finally {
    await ctx.close();
  }
  const me = await portalContext(browser, env.url, u, { lang, viewport: VIEWPORT });
  try {
    const page = await me.newPage();
    await goto(page, `${env.url}/`);
    await login(page, u.userId, USERS[lang].password);
    await goto(page, `${env.url}/me/renew`);
    await page.waitForSelector("#enroll-form:not([hidden])");
    await shoot(page, `${lang}-renew`);
  } finally {
    await me.close();
  }
}

async function main(): Promise<number> {
  for (const tool of ["chromium", "python3"] as const) {
    if (!(await has(tool))) {
      process.stderr.write(`screenshots: ${tool} is missing (apt-get install -y ${tool})\n`);
      return 1;
    }
  }
  const fonts = spawnSync("fc-list", [":lang=ja"], { encoding: "utf8" });
  if (fonts.status !== 0 || fonts.stdout.trim() === "") {
    process.stderr.write("screenshots: warning: no Japanese font found (apt-get install -y fonts-noto-cjk); Japanese text will show as boxes\n");
  }
  mkdirSync(OUT, { recursive: true });
  let env: PortalEnv | undefined;
  let chrome: ChromiumHandle | undefined;
  try {
    env = await startPortalEnv();
    chrome = await launchChromium();
    const op = await env.enroll(OPERATOR_ID);
    const users = {} as Record<Lang, PortalUser>;
    for (const lang of ["ja", "en"] as const) {
      const x = USERS[lang];
      await env.server.services.registration.addUser(
        { userId: x.userId, email: `${x.userId}@example.jp`, name: x.name, organization: x.organization, role: "user", lang },
        "operator:screenshots",
      );
      users[lang] = await env.enroll(x.userId, { register: false });
    }
    // A few more entries for the console's list.
    await env.server.services.registration.addUser({ userId: "a0000103", email: "a0000103@example.jp", name: "佐藤 次郎", organization: "営業部", role: "user" }, "operator:screenshots");
    await env.server.services.registration.addUser({ userId: "a0000104", email: "a0000104@example.jp", name: "John Smith", organization: "Sales", role: "user", lang: "en" }, "operator:screenshots");

    let first = true;
    for (const lang of ["ja", "en"] as const) {
      await userPages(env, chrome.browser, lang, users[lang]);
      await operatorPages(env, chrome.browser, lang, op, first, users[lang].userId);
      first = false;
      await errorPages(env, chrome.browser, lang);
      await enrollPages(env, chrome.browser, lang, users[lang]);
    }
  } finally {
    await chrome?.close();
    await env?.stop();
  }
  process.stdout.write(`${written.length} screenshots written:\n${written.map((p) => `  ${relative(ROOT, p)}`).join("\n")}\n`);
  return 0;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`screenshots failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
