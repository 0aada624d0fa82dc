/**
 * The acceptance test for the NSS store, "Way B" of shared/docs/browser-testing.md: a user with
 * a throwaway HOME runs `shomei enroll --store nss:$HOME/.pki/nssdb`, and a real Chromium with
 * that HOME (no Playwright `clientCertificates`, no `ignoreHTTPSErrors`) trusts the portal
 * through the root shomei trusted in NSS, presents the certificate and key shomei imported
 * into NSS, and logs in with the initial password (forced change, then the user page shows the
 * certificate in use). Afterwards `shomei root remove` takes the trust away, and a fresh
 * Chromium no longer trusts the portal: the trust really came from the NSS database.
 *
 * Choosing the certificate without a dialog needs Chromium's AutoSelectCertificateForUrls
 * policy, a machine-wide file in /etc/chromium/policies/managed/ (root only): written with a
 * unique name for this portal's port, removed at the end. Where it cannot be written the test
 * is skipped (it fails under CI=true). Without a matching policy headless Chromium would wait
 * for a choice nobody makes, so every step has a timeout.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { readCertificate } from "../../src/pki/certificate.js";
import { fromPem, fromPemAll } from "../../src/pki/pem.js";
import { parseCertList } from "../../src/client/nss_store.js";
import { startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { realClock } from "../helpers/inprocess.js";
import { tempDir } from "../helpers/ca.js";
import { autoSelectCertificate, type AutoSelectPolicy } from "../helpers/chromium_policy.js";
import { shomei } from "../helpers/run.js";
import { has, needs } from "../helpers/tools.js";
import { CHROMIUM, STEP_TIMEOUT, alertText, changePassword, heading, login, pathOf, textOf } from "../helpers/browser.js";

const USER = "a0000901";
/** The flags of shared/docs/browser-testing.md (as test/helpers/browser.ts uses them). */
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

function tool(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: "utf8" }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Chromium as the user would start it: the throwaway HOME, so its NSS database is $HOME/.pki/nssdb. */
function launch(home: string): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000, env: { ...process.env, HOME: home } });
}

describe("Chromium logs in with the certificate shomei put into its NSS database", { timeout: 240_000 }, () => {
  let env: PortalEnv | undefined;
  let home: string | undefined;
  let policy: AutoSelectPolicy | undefined;

  before(async () => {
    if (!(await has("chromium")) || !(await has("nss"))) return;
    // The CLI and Chromium run on the wall clock, so the service does too.
    env = await startPortalEnv({ clock: realClock() });
    home = tempDir("shomei-home-");
    // Chromium picks the certificate for this portal (and only this one) without asking.
    policy = autoSelectCertificate(env.url, "nss");
  });

  after(async () => {
    policy?.remove();
    await env?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test("shomei enroll --store nss:$HOME/.pki/nssdb, then Chromium (Way B) trusts the portal, presents the certificate and logs in", async (t) => {
    if (!(await needs(t, "nss", "chromium")) || !env || !home) return;
    const policyProblem = policy?.problem;
    if (policyProblem !== undefined) {
      if (process.env.CI === "true") throw new Error(`CI: ${policyProblem}`);
      t.skip(policyProblem);
      return;
    }
    const nssdb = join(home, ".pki", "nssdb");
    mkdirSync(nssdb, { recursive: true });
    const created = await tool("certutil", ["-N", "-d", `sql:${nssdb}`, "--empty-password"]);
    assert.equal(created.code, 0, created.stderr);

    const email = `${USER}@example.jp`;
    await env.server.services.registration.addUser({ userId: USER, email, name: "北川 澪" }, "operator:test");
    const secrets = await env.secretsFor(email);
    assert.ok(secrets.passcode && secrets.password);
    const started = Date.now();
    const enrolled = await shomei(
      ["enroll", "--server", env.server.url, "--user", USER, "--root-fingerprint", env.ca.rootFingerprint, "--passcode-stdin", "--store", `nss:${nssdb}`],
      { input: `${secrets.passcode}\n`, env: { HOME: home } },
    );
    assert.equal(enrolled.code, 0, enrolled.stderr);
    t.diagnostic(`shomei enroll into NSS: ${Date.now() - started} ms`);
    const lines = parseCertList((await tool("certutil", ["-L", "-d", `sql:${nssdb}`])).stdout);
    assert.ok(lines.some((l) => l.nickname.startsWith("Shomei root ") && l.trust === "C,,"), JSON.stringify(lines));
    assert.ok(lines.some((l) => l.nickname === `${USER} (テスト株式会社)` && l.trust === "u,u,u"), JSON.stringify(lines));
    const pem = await tool("certutil", ["-L", "-d", `sql:${nssdb}`, "-n", `${USER} (テスト株式会社)`, "-a"]);
    const [certDer] = fromPemAll(pem.stdout, "CERTIFICATE");
    assert.ok(certDer);
    const serial = readCertificate(certDer).serialHex;

    const issuingCn = readCertificate(fromPem(readFileSync(env.ca.issuingPem, "utf8"), "CERTIFICATE")).commonName;
    assert.ok(issuingCn);
    let browser = await launch(home);
    try {
      // A plain context: no clientCertificates, no ignoreHTTPSErrors.
      const ctx = await browser.newContext({ locale: "ja-JP" });
      ctx.setDefaultTimeout(STEP_TIMEOUT);
      ctx.setDefaultNavigationTimeout(STEP_TIMEOUT);
      const page = await ctx.newPage();
      const response = await page.goto(`${env.url}/`, { timeout: STEP_TIMEOUT, waitUntil: "load" });
      assert.equal(response?.status(), 200);
      // Chromium checked the real server certificate itself (issued by our issuing CA).
      const security = await response?.securityDetails();
      assert.equal(security?.issuer, issuingCn, JSON.stringify(security));
      assert.equal(await heading(page), "ログイン");
      // The portal saw the certificate Chromium took from NSS.
      assert.match(await textOf(page, "main"), new RegExp(`使用中の証明書: ${USER} \\(シリアル番号 ${serial}\\)`));

      await login(page, USER, secrets.password);
      assert.equal(pathOf(page), "/password", await alertText(page));
      await changePassword(page, secrets.password, "Mizunara-Kawasemi-2026!");
      assert.equal(new URL(page.url()).pathname, "/me", await alertText(page));
      assert.equal(await heading(page), "マイページ");
      const row = await textOf(page, `main table tr:has(code:text-is("${serial}"))`);
      assert.match(row, /\(使用中\)/, `the certificate in use is marked: ${row}`);
      await ctx.close();
    } finally {
      await browser.close().catch(() => undefined);
    }

    // Without the root's trust in NSS, a fresh Chromium refuses the portal.
    const removed = await shomei(["root", "remove", "--yes", "--store", `nss:${nssdb}`], { env: { HOME: home } });
    assert.equal(removed.code, 0, removed.stderr);
    browser = await launch(home);
    try {
      const page = await browser.newPage();
      await assert.rejects(page.goto(`${env.url}/`, { timeout: STEP_TIMEOUT }), /ERR_CERT_AUTHORITY_INVALID/);
    } finally {
      await browser.close().catch(() => undefined);
    }
  });
});
