/**
 * The issuance application in the browser (issue 14), with Debian's Chromium and nothing else:
 * Chromium's own NSS database (a throwaway HOME) trusts the root, as a user's PC would after
 * STEP 2, and no Playwright client certificates or ignoreHTTPSErrors are used.
 *
 * A user registered by the operator opens /enroll, types the user ID and the passcode from the
 * mail and a backup password; the page makes the key with WebCrypto, sends the CSR, checks the
 * certificate and offers USERID.p12 and root.crt. Then OpenSSL and NSS's pk12util read the file
 * with that password (both profiles), pk12util imports it into the NSS database, and a fresh
 * Chromium presents it to the portal (AutoSelectCertificateForUrls) and logs in with the initial
 * password from the mail. Also: a connection dropped after issuance and a reload, then the same
 * certificate without a second passcode; a wrong passcode with the tries left; a malformed one
 * refused without any request; the page without JavaScript; its CSP and SRI.
 */
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { realClock } from "../helpers/inprocess.js";
import { readOutbox, tempDir } from "../helpers/ca.js";
import { run } from "../helpers/run.js";
import { has, needs } from "../helpers/tools.js";
import { autoSelectCertificate, type AutoSelectPolicy } from "../helpers/chromium_policy.js";
import { CHROMIUM, STEP_TIMEOUT, alertText, changePassword, errorCode, heading, login, pathOf, textOf } from "../helpers/browser.js";

const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const BACKUP_PASSWORD = "Hinoki-Kawasemi-2026!";
/** Key generation, the request, the checks and the PKCS#12 (200000 iterations in JavaScript). */
const WORK_TIMEOUT = 90_000;

interface Home {
  readonly dir: string;
  readonly nssdb: string;
  launch(): Promise<Browser>;
}

/** A user's HOME whose NSS database trusts the service's root, as after STEP 2 on a PC. */
async function userHome(env: PortalEnv): Promise<Home> {
  const dir = tempDir("shomei-enroll-home-");
  const nssdb = join(dir, ".pki", "nssdb");
  mkdirSync(nssdb, { recursive: true });
  const created = await run("certutil", ["-N", "-d", `sql:${nssdb}`, "--empty-password"]);
  assert.equal(created.code, 0, created.stderr);
  const trusted = await run("certutil", ["-A", "-d", `sql:${nssdb}`, "-n", "Shomei test root", "-t", "C,,", "-i", env.ca.rootPem]);
  assert.equal(trusted.code, 0, trusted.stderr);
  return {
    dir, nssdb,
    launch: () => chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000, env: { ...process.env, HOME: dir } }),
  };
}

async function newPage(browser: Browser, lang: "ja" | "en" = "ja", o: { javaScriptEnabled?: boolean; bypassCSP?: boolean } = {}): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext({ locale: lang === "en" ? "en-US" : "ja-JP", acceptDownloads: true, ...o });
  ctx.setDefaultTimeout(STEP_TIMEOUT);
  ctx.setDefaultNavigationTimeout(STEP_TIMEOUT);
  return { ctx, page: await ctx.newPage() };
}

async function fillForm(page: Page, f: { userId: string; passcode: string; password?: string; confirm?: string; profile?: "modern" | "compatible" }): Promise<void> {
  await page.fill("#userId", f.userId);
  await page.fill("#passcode", f.passcode);
  await page.fill("#password", f.password ?? BACKUP_PASSWORD);
  await page.fill("#passwordConfirm", f.confirm ?? f.password ?? BACKUP_PASSWORD);
  if (f.profile === "compatible") await page.check("#profile-compatible");
}

/** Presses the button and waits for the result or an error. */
async function submit(page: Page): Promise<"result" | "error"> {
  await page.click("#submit");
  const shown = await page.waitForSelector("#result:not([hidden]), #error:not([hidden])", { timeout: WORK_TIMEOUT });
  return (await shown.getAttribute("id")) === "result" ? "result" : "error";
}

async function download(page: Page, selector: string, dir: string): Promise<{ path: string; name: string }> {
  const [d] = await Promise.all([page.waitForEvent("download", { timeout: STEP_TIMEOUT }), page.click(selector)]);
  const path = join(dir, d.suggestedFilename());
  await d.saveAs(path);
  return { path, name: d.suggestedFilename() };
}

/** What `openssl pkcs12` reads from the file with the password: the certificate and the key, as PEM. */
async function opensslRead(file: string, password: string): Promise<{ cert: X509Certificate; keyPem: string; info: string }> {
  const certs = await run("openssl", ["pkcs12", "-in", file, "-passin", `pass:${password}`, "-nokeys", "-clcerts"]);
  assert.equal(certs.code, 0, `openssl pkcs12 -nokeys: ${certs.stderr}`);
  const key = await run("openssl", ["pkcs12", "-in", file, "-passin", `pass:${password}`, "-nocerts", "-nodes"]);
  assert.equal(key.code, 0, `openssl pkcs12 -nocerts: ${key.stderr}`);
  const info = await run("openssl", ["pkcs12", "-in", file, "-passin", `pass:${password}`, "-info", "-noout"]);
  assert.equal(info.code, 0, info.stderr);
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(certs.stdout)?.[0];
  const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(key.stdout)?.[0];
  assert.ok(pem && keyPem, `${certs.stdout}\n${key.stdout}`);
  return { cert: new X509Certificate(pem), keyPem, info: info.stderr + info.stdout };
}

function fingerprint(der: Buffer, alg: "sha256" | "sha1", sep: string): string {
  return createHash(alg).update(der).digest("hex").toUpperCase().match(/../g)!.join(sep);
}

describe("enrollment in the browser: /enroll, the .p12, NSS and a portal login", { timeout: 600_000 }, () => {
  let env: PortalEnv | undefined;
  /** While true, the EST listener issues but drops the connection before the answer (a network failure after issuance). */
  let dropAfterIssue = false;
  let enrollRequests = 0;
  const homes: string[] = [];
  let policy: AutoSelectPolicy | undefined;

  before(async () => {
    if (!(await has("chromium")) || !(await has("nss")) || !(await has("openssl"))) return;
    env = await startPortalEnv({
      clock: realClock(),
      configure: (app) => {
        // Test hook: counts simpleenroll requests, and can drop the answer after the certificate was issued.
        app.addHook("onRequest", (req, _reply, done) => {
          if (req.url.startsWith("/.well-known/est/simpleenroll")) enrollRequests++;
          done();
        });
        app.addHook("onSend", (req, reply, payload, done) => {
          if (dropAfterIssue && req.url.startsWith("/.well-known/est/simpleenroll") && reply.statusCode === 200) req.raw.socket.destroy();
          done(null, payload);
        });
      },
    });
    policy = autoSelectCertificate(env.url, "enroll");
  });

  after(async () => {
    policy?.remove();
    await env?.stop();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  const ready = async (t: TestContext): Promise<PortalEnv | undefined> => {
    if (!(await needs(t, "chromium", "nss", "openssl")) || !env) return undefined;
    return env;
  };

  const register = async (e: PortalEnv, userId: string): Promise<{ passcode: string; password: string }> => {
    const email = `${userId}@example.jp`;
    await e.server.services.registration.addUser({ userId, email, name: `利用者 ${userId}` }, "operator:test");
    const s = await e.secretsFor(email);
    assert.ok(s.passcode && s.password);
    return { passcode: s.passcode, password: s.password };
  };

  for (const profile of ["modern", "compatible"] as const) {
    test(`/enroll (${profile}): the .p12 opens in OpenSSL and pk12util, and Chromium logs in to the portal with it`, async (t) => {
      const e = await ready(t);
      if (!e) return;
      if (policy?.problem !== undefined) {
        if (process.env.CI === "true") throw new Error(`CI: ${policy.problem}`);
        t.skip(policy.problem);
        return;
      }
      const userId = profile === "modern" ? "a0000701" : "a0000702";
      const secrets = await register(e, userId);
      // The mail points at the page first, the command line second.
      const mail = (await readOutbox(e.ca.dir)).find((m) => m.to.includes(`${userId}@`) && /パスコード: /.test(m.body));
      assert.ok(mail);
      const pageAt = mail.body.search(/^ {3}https:\/\/\S+\/enroll$/m);
      assert.ok(pageAt > 0 && pageAt < mail.body.indexOf("shomei enroll --server"), mail.body);
      const home = await userHome(e);
      homes.push(home.dir);
      const files = join(home.dir, "Downloads");
      mkdirSync(files);

      let browser = await home.launch();
      try {
        const { page } = await newPage(browser);
        const response = await page.goto(`${e.server.url}/enroll`, { waitUntil: "load" });
        assert.equal(response?.status(), 200);
        assert.equal(await heading(page), "証明書の取得");
        // As a user might type them: capitals, the passcode in small full-width letters without hyphens.
        const typedPasscode = secrets.passcode.replace(/-/g, "").toLowerCase().replace(/[a-z0-9]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
        await fillForm(page, { userId: userId.toUpperCase(), passcode: typedPasscode, profile });
        assert.match(await textOf(page, "#passcode-hint"), new RegExp(`形式は正しいです。 ${secrets.passcode}`));
        assert.match(await textOf(page, "#password-hint"), /強さ: (普通|強い)/);
        assert.equal(await submit(page), "result", await alertText(page));

        // The root's fingerprints as shown, to compare with the mail and with Windows' wizard.
        const rootDer = new X509Certificate(readFileSync(e.ca.rootPem)).raw;
        assert.equal(await textOf(page, "#fp-sha256"), e.ca.rootFingerprint);
        assert.equal(await textOf(page, "#fp-sha1"), fingerprint(rootDer, "sha1", " "));
        assert.equal(await textOf(page, "#cert-user"), userId);
        const p12 = await download(page, "#download-p12", files);
        assert.equal(p12.name, `${userId}.p12`);
        const root = await download(page, "#download-root", files);
        assert.equal(root.name, "root.crt");
        assert.deepEqual(readFileSync(root.path), rootDer);
        // Nothing of the key is left in the browser once the file was saved.
        const left = await page.evaluate(`new Promise((resolve) => {
          const r = indexedDB.open("shomei-enroll");
          r.onsuccess = () => { const q = r.result.transaction("pending").objectStore("pending").count(); q.onsuccess = () => resolve(q.result); };
        })`);
        assert.equal(left, 0);
      } finally {
        await browser.close().catch(() => undefined);
      }

      // OpenSSL: the certificate is the user's and the key is its key; the profile's algorithms.
      const file = join(files, `${userId}.p12`);
      const read = await opensslRead(file, BACKUP_PASSWORD);
      assert.match(read.cert.subject, new RegExp(`CN=${userId}`));
      const issued = await e.server.services.portal.listCertificates(userId);
      assert.equal(issued.length, 1);
      assert.equal(read.cert.serialNumber.replace(/^0+/, "").toLowerCase(), issued[0]!.serial.replace(/^0+/, "").toLowerCase());
      assert.equal(
        createPublicKey(createPrivateKey(read.keyPem)).export({ format: "der", type: "spki" }).toString("hex"),
        read.cert.publicKey.export({ format: "der", type: "spki" }).toString("hex"),
      );
      assert.match(read.info, profile === "modern" ? /PBES2, PBKDF2, AES-256-CBC/ : /pbeWithSHA1And3-KeyTripleDES-CBC/);
      assert.match(read.info, profile === "modern" ? /MAC: sha256/ : /MAC: sha1/);

      // NSS: pk12util lists it with the password, then imports it into the user's database.
      const listed = await run("pk12util", ["-l", file, "-W", BACKUP_PASSWORD]);
      assert.equal(listed.code, 0, listed.stderr + listed.stdout);
      assert.match(listed.stdout, new RegExp(userId));
      const imported = await run("pk12util", ["-i", file, "-d", `sql:${home.nssdb}`, "-W", BACKUP_PASSWORD]);
      assert.equal(imported.code, 0, imported.stderr + imported.stdout);

      // A fresh Chromium on that database presents the certificate to the portal; the initial password logs in.
      browser = await home.launch();
      try {
        const { page } = await newPage(browser);
        const r = await page.goto(`${e.url}/`, { waitUntil: "load" });
        assert.equal(r?.status(), 200);
        assert.equal(await heading(page), "ログイン");
        assert.match(await textOf(page, "main"), new RegExp(`使用中の証明書: ${userId} \\(シリアル番号 ${issued[0]!.serial}\\)`));
        await login(page, userId, secrets.password);
        assert.equal(pathOf(page), "/password", await alertText(page));
        await changePassword(page, secrets.password, `Mizunara-${profile}-2026!`);
        assert.equal(await heading(page), "マイページ");
      } finally {
        await browser.close().catch(() => undefined);
      }
    });
  }

  test("a connection dropped after issuance, then a reload: the same certificate, the passcode not used up twice", async (t) => {
    const e = await ready(t);
    if (!e) return;
    const userId = "a0000711";
    const secrets = await register(e, userId);
    const home = await userHome(e);
    homes.push(home.dir);
    const browser = await home.launch();
    try {
      const { page } = await newPage(browser);
      await page.goto(`${e.server.url}/enroll`, { waitUntil: "load" });
      await fillForm(page, { userId, passcode: secrets.passcode });
      dropAfterIssue = true;
      const before = enrollRequests;
      assert.equal(await submit(page), "error");
      assert.equal(await errorCode(page), "BROWSER_CONNECTION_LOST", await alertText(page));
      assert.match(await alertText(page), /パスコードが無駄になることはありません/);
      assert.ok(enrollRequests > before, "the request reached the service");
      const issued = await e.server.services.portal.listCertificates(userId);
      assert.equal(issued.length, 1, "the service issued the certificate before the connection dropped");
      dropAfterIssue = false;

      // The tab is reloaded: the key and the request are still in the browser.
      await page.reload({ waitUntil: "load" });
      await page.waitForSelector("#pending:not([hidden])");
      assert.match(await textOf(page, "#pending"), new RegExp(`${userId} の申請が途中で止まっています`));
      assert.equal(await page.inputValue("#userId"), userId);
      await fillForm(page, { userId, passcode: secrets.passcode });
      assert.equal(await submit(page), "result", await alertText(page));
      const dir = join(home.dir, "dl");
      mkdirSync(dir);
      const p12 = await download(page, "#download-p12", dir);
      const read = await opensslRead(p12.path, BACKUP_PASSWORD);
      const after = await e.server.services.portal.listCertificates(userId);
      assert.equal(after.length, 1, "no second certificate");
      assert.equal(read.cert.serialNumber.replace(/^0+/, "").toLowerCase(), issued[0]!.serial.replace(/^0+/, "").toLowerCase());
    } finally {
      dropAfterIssue = false;
      await browser.close().catch(() => undefined);
    }
  });

  test("a wrong passcode shows the tries left; a malformed one is refused before any request; English", async (t) => {
    const e = await ready(t);
    if (!e) return;
    const userId = "a0000721";
    const secrets = await register(e, userId);
    const home = await userHome(e);
    homes.push(home.dir);
    const browser = await home.launch();
    try {
      const { page } = await newPage(browser, "en");
      await page.goto(`${e.server.url}/enroll`, { waitUntil: "load" });
      assert.equal(await heading(page), "Get your certificate");
      const sent: string[] = [];
      page.on("request", (r) => { if (r.url().includes("/.well-known/est/simpleenroll")) sent.push(r.url()); });

      // Malformed: the hint says so while typing, the button shows the coded error, nothing is sent.
      await fillForm(page, { userId, passcode: "ABCD-EFGH-JKMN" });
      assert.match(await textOf(page, "#passcode-hint"), /12 characters instead of 16/);
      assert.equal(await submit(page), "error");
      assert.equal(await errorCode(page), "PASSCODE_LENGTH_WRONG");
      await fillForm(page, { userId, passcode: "ABCD-EFGH-JKMN-PQO0" });
      assert.equal(await submit(page), "error");
      assert.equal(await errorCode(page), "PASSCODE_CHARS_INVALID");
      assert.match(await alertText(page), /O \(letter\), 0 \(digit\)/);
      await fillForm(page, { userId: "x123", passcode: secrets.passcode });
      assert.equal(await submit(page), "error");
      assert.equal(await errorCode(page), "USER_ID_FORMAT");
      await fillForm(page, { userId, passcode: secrets.passcode, password: "short1!" });
      assert.equal(await submit(page), "error");
      assert.equal(await errorCode(page), "BACKUP_PASSWORD_WEAK");
      await fillForm(page, { userId, passcode: secrets.passcode, confirm: `${BACKUP_PASSWORD}x` });
      assert.equal(await submit(page), "error");
      assert.equal(await errorCode(page), "PASSWORD_CONFIRM_MISMATCH");
      assert.deepEqual(sent, [], "nothing was sent for a malformed form");

      // Well-formed but wrong: the service counts it and the page says how many tries are left.
      const wrong = [...secrets.passcode.replace(/-/g, "")].map((c) => (c === "A" ? "B" : "A")).join("");
      await fillForm(page, { userId, passcode: wrong });
      assert.equal(await submit(page), "error");
      assert.equal(await errorCode(page), "PASSCODE_WRONG");
      assert.match(await alertText(page), /4 more wrong tries/);
      assert.equal(sent.length, 1);
      // The right passcode still works: the certificate arrives.
      await fillForm(page, { userId, passcode: secrets.passcode });
      assert.equal(await submit(page), "result", await alertText(page));

      // The same passcode from another browser (another key, another request): used, refused with its remedy.
      const other = await newPage(browser, "en");
      await other.page.goto(`${e.server.url}/enroll`, { waitUntil: "load" });
      await fillForm(other.page, { userId, passcode: secrets.passcode });
      assert.equal(await submit(other.page), "error");
      assert.equal(await errorCode(other.page), "PASSCODE_REJECTED");
      assert.match(await alertText(other.page), /ask for a new passcode/);
    } finally {
      await browser.close().catch(() => undefined);
    }
  });

  test("without JavaScript the page says what it needs; with it, the CSP allows only its own script, pinned by SRI", async (t) => {
    const e = await ready(t);
    if (!e) return;
    const home = await userHome(e);
    homes.push(home.dir);
    const browser = await home.launch();
    try {
      const { page } = await newPage(browser, "ja", { javaScriptEnabled: false });
      await page.goto(`${e.server.url}/enroll`, { waitUntil: "load" });
      assert.match(await textOf(page, "main"), /この画面は JavaScript を使います/);
      assert.equal(await page.isVisible("#enroll-form"), false);

      const { page: js } = await newPage(browser);
      const r = await js.goto(`${e.server.url}/enroll?lang=en`, { waitUntil: "load" });
      const csp = r?.headers()["content-security-policy"] ?? "";
      assert.match(csp, /script-src 'self'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
      const src = await js.getAttribute("script[src]", "src");
      const integrity = await js.getAttribute("script[src]", "integrity");
      assert.equal(await js.locator("script:not([src])").count(), 0, "no inline script");
      const body = Buffer.from(await js.evaluate(async (u) => [...new Uint8Array(await (await fetch(u)).arrayBuffer())], src ?? ""));
      assert.equal(integrity, `sha384-${createHash("sha384").update(body).digest("base64")}`);
      assert.equal(await js.isVisible("#enroll-form"), true);
      assert.equal(await js.isVisible("noscript"), false);

      // A browser without WebCrypto gets the coded error instead of the form.
      const bare = await newPage(browser);
      await bare.ctx.addInitScript("Object.defineProperty(globalThis.crypto, 'subtle', { value: undefined })");
      await bare.page.goto(`${e.server.url}/enroll`, { waitUntil: "load" });
      await bare.page.waitForSelector("#error:not([hidden])");
      assert.equal(await errorCode(bare.page), "BROWSER_NO_WEBCRYPTO");
      assert.equal(await bare.page.isVisible("#enroll-form"), false);
    } finally {
      await browser.close().catch(() => undefined);
    }
  });
});
