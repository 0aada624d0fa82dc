/**
 * The operator console in a real browser (Chromium through playwright-core): a locked-out user
 * unlocked by the operator from another browser; a user registered through the form (a name
 * with markup shown as text); a Shift_JIS CSV upload with a good and a bad row; and a
 * CSV-registered user who gets a certificate with the real `shomei enroll` and logs in with it.
 *
 * Certificates are presented by Playwright's TLS proxy (see test/helpers/browser.ts), not by
 * Chromium's own certificate store.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { OPERATOR_ID, startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { tempDir } from "../helpers/ca.js";
import { shomei } from "../helpers/run.js";
import { has, needs } from "../helpers/tools.js";
import {
  alertText, errorCode, firstLogin, goto, heading, launchChromium, login, pathOf, portalContext, submitWith, textOf,
  type ChromiumHandle,
} from "../helpers/browser.js";

/**
 * "ユーザID,メールアドレス,氏名,組織名\r\n
 *  a0000301,a0000301@example.jp,髙橋 ソラ,㈱総務部\r\n
 *  a0000302,not-an-e-mail,鈴木 一郎,\r\n"
 * as Excel saves it: python3 `.encode("cp932")`. 髙 and ㈱ exist only in code page 932 (NEC/IBM
 * extensions) and ソ's second byte is 0x5C, so a wrong decoding shows.
 */
const SJIS_CSV = Buffer.from(
  "8386815b835549442c8381815b838b83418368838c83582c8e8196bc2c9167904496bc0d0a" +
    "61303030303330312c6130303030333031406578616d706c652e6a702ceee08bb420835c83892c878a918d96b195940d0a" +
    "61303030303330322c6e6f742d616e2d652d6d61696c2c97e996d82088ea98592c0d0a",
  "hex",
);

const OPERATOR_PASSWORD = "Unyou-Kanri-2026-Haru";

describe("operator console in Chromium: unlock, register, CSV upload, enroll with the CLI and log in", { timeout: 240_000 }, () => {
  let env: PortalEnv | undefined;
  let chrome: ChromiumHandle | undefined;
  let operator: { ctx: BrowserContext; page: Page } | undefined;

  before(async () => {
    if (!(await has("chromium")) || !(await has("python3"))) return;
    env = await startPortalEnv();
    chrome = await launchChromium();
  });
  after(async () => {
    await operator?.ctx.close();
    await chrome?.close();
    await env?.stop();
  });

  /** The operator's own browser, logged in (the first time with the forced password change). */
  const operatorPage = async (e: PortalEnv, c: ChromiumHandle): Promise<Page> => {
    if (operator) return operator.page;
    const op = await e.enroll(OPERATOR_ID);
    const ctx = await portalContext(c.browser, e.url, op);
    const page = await ctx.newPage();
    operator = { ctx, page };
    await firstLogin(page, e.url, OPERATOR_ID, op.password, OPERATOR_PASSWORD);
    return page;
  };

  test("5 wrong passwords lock the account; the operator unlocks it from the console; the right password works again", async (t) => {
    if (!(await needs(t, "chromium", "python3")) || !env || !chrome) return;
    const u = await env.enroll("a0000111", { name: "佐藤 次郎" });
    const ctx = await portalContext(chrome.browser, env.url, u);
    try {
      const page = await ctx.newPage();
      await goto(page, `${env.url}/`);
      for (let i = 1; i <= 4; i++) {
        await login(page, "a0000111", `wrong-password-${i}`);
        assert.equal(await errorCode(page), "LOGIN_FAILED", `attempt ${i}`);
        assert.match(await alertText(page), new RegExp(`あと ${5 - i} 回失敗するとロックされます`));
      }
      await login(page, "a0000111", "wrong-password-5");
      assert.equal(await errorCode(page), "ACCOUNT_LOCKED");
      assert.match(await alertText(page), /パスワードを続けて間違えたため、このユーザID はロックされています。.*運用担当者（ヘルプデスク）にロックの解除を依頼してください/);
      await login(page, "a0000111", u.password);
      assert.equal(await errorCode(page), "ACCOUNT_LOCKED", "locked even with the right password");

      // The operator, in another browser with their own certificate.
      const op = await operatorPage(env, chrome);
      await submitWith(op, "nav a:text-is('運用コンソール')");
      assert.equal(pathOf(op), "/console");
      assert.equal(await heading(op), "運用コンソール");
      await op.fill("#q", "a0000111");
      await submitWith(op, "form[role=search] button");
      assert.equal(pathOf(op), "/console?q=a0000111");
      const row = await textOf(op, "main table tbody tr");
      assert.match(row, /a0000111 佐藤 次郎 a0000111@example\.jp 利用者 利用中 \/ ロック中/);
      await submitWith(op, "main table a:text-is('a0000111')");
      assert.equal(pathOf(op), "/console/users/a0000111");
      assert.equal(await heading(op), "a0000111 — 佐藤 次郎");
      assert.match(await textOf(op, "main dl"), /アカウント 利用中 \/ ロック中/);
      await submitWith(op, "button:text-is('ロックを解除')");
      assert.equal(pathOf(op), "/console/users/a0000111?done=unlock");
      assert.equal(await textOf(op, "[role=status]"), "ロックを解除しました。");
      assert.doesNotMatch(await textOf(op, "main dl"), /ロック中/);
      assert.equal(await op.locator("button:text-is('ロックを解除')").count(), 0, "no unlock button any more");

      await goto(page, `${env.url}/`);
      await login(page, "a0000111", u.password);
      assert.equal(pathOf(page), "/password", `logged in (and asked to change the initial password): ${await alertText(page)}`);
      assert.equal(await alertText(page), "");
    } finally {
      await ctx.close();
    }
  });

  test("the operator registers a user through the form; markup in the name is shown as text", async (t) => {
    if (!(await needs(t, "chromium", "python3")) || !env || !chrome) return;
    const op = await operatorPage(env, chrome);
    await goto(op, `${env.url}/console`);
    await op.fill("#new-userId", "a0000201");
    await op.fill("#new-email", "a0000201@example.jp");
    await op.fill("#new-name", "<b>HTML</b> 太郎");
    await op.fill("#new-org", "開発部");
    await op.selectOption("#new-lang", "ja");
    await submitWith(op, "main form[action='/console/users'] button[type=submit]");
    assert.equal(pathOf(op), "/console/users/a0000201?done=registered", await alertText(op));
    assert.equal(await textOf(op, "[role=status]"), "利用者を登録し、パスコードと初期パスワードのメールを送りました。");
    assert.equal(await heading(op), "a0000201 — <b>HTML</b> 太郎", "the name is text, tags and all");
    assert.match(await textOf(op, "main dl"), /氏名 <b>HTML<\/b> 太郎 メールアドレス a0000201@example\.jp 組織 開発部/);
    assert.equal(await op.locator("main b, h1 b").count(), 0, "no bold element was made from the name");
    assert.match(await textOf(op, "main dl"), /初期パスワードのまま/);

    await goto(op, `${env.url}/console?q=a0000201`);
    assert.match(await textOf(op, "main table tbody tr"), /a0000201 <b>HTML<\/b> 太郎 a0000201@example\.jp/);
    assert.equal(await op.locator("main table b").count(), 0);

    const s = await env.secretsFor("a0000201@example.jp");
    assert.ok(s.passcode && s.password, "the passcode and initial-password mails were sent");

    // The same user ID again: the form shows why it was refused.
    await op.fill("#new-userId", "a0000201");
    await op.fill("#new-email", "other@example.jp");
    await op.fill("#new-name", "別人");
    await submitWith(op, "main form[action='/console/users'] button[type=submit]");
    assert.equal(await errorCode(op), "USER_EXISTS", await alertText(op));
    assert.match(await alertText(op), /ユーザID「a0000201」は既に登録されています。/);
    assert.equal(await heading(op), "運用コンソール");
  });

  test("Shift_JIS CSV: check only, then upload; the good row is registered, the bad one rejected with its reason; that user enrolls with shomei and logs in", async (t) => {
    if (!(await needs(t, "chromium", "python3")) || !env || !chrome) return;
    const op = await operatorPage(env, chrome);
    await goto(op, `${env.url}/console`);
    await submitWith(op, "main a:text-is('CSV で一括登録')");
    assert.equal(pathOf(op), "/console/bulk");
    assert.equal(await heading(op), "CSV で一括登録");

    const csv = { name: "利用者.csv", mimeType: "text/csv", buffer: SJIS_CSV };
    // Check only: nothing is registered.
    await op.setInputFiles("#csv", csv);
    await op.check("#dryRun");
    await submitWith(op, "main form button[type=submit]");
    assert.equal(await textOf(op, "[role=status]"), "文字コード shift_jis。登録できる行: 1、登録しなかった行: 1。");
    assert.match(await textOf(op, "main table tbody tr:has(td:text-is('a0000301'))"), /登録できます/);
    await goto(op, `${env.url}/console?q=a0000301`);
    assert.equal(await textOf(op, "main table"), "", "check only registered nobody");
    assert.match(await textOf(op, "main"), /該当するものはありません。/);

    await goto(op, `${env.url}/console/bulk`);
    await op.setInputFiles("#csv", csv);
    await submitWith(op, "main form button[type=submit]");
    assert.equal(pathOf(op), "/console/bulk");
    assert.equal(await textOf(op, "[role=status]"), "文字コード shift_jis。登録した行: 1、登録しなかった行: 1。");
    const good = await textOf(op, "main table tbody tr:has(td:text-is('a0000301'))");
    const bad = await textOf(op, "main table tbody tr:has(td:text-is('a0000302'))");
    assert.match(good, /^2 a0000301 登録しました$/);
    assert.equal(bad, "3 a0000302 登録しませんでした: [EMAIL_INVALID] メールアドレス「not-an-e-mail」の形式が正しくありません。");

    // The Shift_JIS text arrived intact.
    await goto(op, `${env.url}/console/users/a0000301`);
    assert.equal(await heading(op), "a0000301 — 髙橋 ソラ");
    assert.match(await textOf(op, "main dl"), /組織 ㈱総務部/);
    await goto(op, `${env.url}/console?q=a0000302`);
    assert.equal(await textOf(op, "main table"), "", "the bad row was not registered");

    // The user gets the certificate the real way: the issuance application.
    const secrets = await env.secretsFor("a0000301@example.jp");
    assert.ok(secrets.passcode && secrets.password, "mails to the CSV-registered user");
    const store = join(tempDir("shomei-browser-store-"), "store");
    const r = await shomei(
      ["enroll", "--server", env.server.url, "--user", "a0000301", "--root-fingerprint", env.ca.rootFingerprint, "--passcode-stdin", "--store", store],
      { input: `${secrets.passcode}\n` },
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const dir = join(store, "certs", "a0000301");
    const [serial] = readdirSync(dir);
    assert.ok(serial);
    const files = { certPath: join(dir, serial, "cert.pem"), keyPath: join(dir, serial, "key.pem") };

    const ctx = await portalContext(chrome.browser, env.url, files);
    try {
      const page = await ctx.newPage();
      await goto(page, `${env.url}/`);
      assert.match(await textOf(page, "main"), /使用中の証明書: a0000301/);
      await firstLogin(page, env.url, "a0000301", secrets.password, "Hinoki-Mori-2026-Natsu");
      assert.equal(await heading(page), "マイページ");
      const dl = await textOf(page, "main dl");
      assert.match(dl, /ユーザID a0000301/);
      assert.match(dl, /氏名 髙橋 ソラ/);
      assert.match(dl, /組織 ㈱総務部/);
      const row = await textOf(page, "main table tbody tr");
      assert.match(row, /\(使用中\)/);
      assert.ok(row.toLowerCase().replace(/:/g, "").includes(serial.toLowerCase().replace(/:/g, "")), `the certificate from the store (${serial}) is the one in use: ${row}`);
    } finally {
      await ctx.close();
    }
  });
});
