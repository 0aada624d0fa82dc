/**
 * `shomei doctor` as a user (or the helpdesk on the phone) runs it: the built CLI against the
 * real service in-process (real TLS on loopback, a clock the test can move), stores filled by
 * the real `shomei enroll`, real CONNECT proxies. One test per situation the helpdesk meets.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { run, shomei, shomeiCa, SHOMEI } from "../helpers/run.js";
import { runAtTerminal } from "../helpers/pty.js";
import { needs } from "../helpers/tools.js";
import { tempDir } from "../helpers/ca.js";
import { startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import type { Clock } from "../helpers/inprocess.js";
import { startTestProxy } from "../helpers/client_proxy.js";
import { startInterceptingProxy } from "../helpers/intercepting_proxy.js";
import { startTinyproxy } from "../helpers/tinyproxy.js";
import { FileStore } from "../../src/client/file_store.js";
import { fromPem } from "../../src/pki/pem.js";

const DAY = 86_400_000;

interface JsonResult {
  version: string;
  checks: { id: string; status: string; finding: string; remedy: string; details: Record<string, unknown> }[];
  helpdesk: string | null;
}

/** The service's clock: the wall clock plus an offset the test sets (the CLI runs on the wall clock). */
function offsetClock(): Clock & { offset: number } {
  const c = {
    offset: 0,
    get now() { return new Date(Date.now() + c.offset); },
    set now(d: Date) { c.offset = d.getTime() - Date.now(); },
    advance(ms: number) { c.offset += ms; },
  };
  return c;
}

async function doctorJson(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; json: JsonResult; stderr: string }> {
  const r = await shomei(["doctor", "--json", ...args], { env: { HTTPS_PROXY: "", https_proxy: "", ...env } });
  let json: JsonResult;
  try {
    json = JSON.parse(r.stdout) as JsonResult;
  } catch {
    throw new Error(`not JSON (exit ${String(r.code)}): ${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, json, stderr: r.stderr };
}

function check(j: JsonResult, id: string): JsonResult["checks"][number] {
  const c = j.checks.find((x) => x.id === id);
  assert.ok(c, `no check ${id}`);
  return c;
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const ORDER = ["dns", "tcp", "proxy", "tls", "clock", "version", "store", "root", "certificate", "expiry", "revocation", "key", "duplicates"];

describe("against a running service", () => {
  let env: PortalEnv;
  const clock = offsetClock();
  before(async () => { env = await startPortalEnv({ clock }); });
  after(async () => { await env?.stop(); });

  test("healthy: every check ok, exit 0, --json shape, and the Japanese text by default", async () => {
    const u = await env.enrollWithCli("a0000101");
    const { code, json, stderr } = await doctorJson(["--store", u.store]);
    assert.equal(code, 0, stderr + JSON.stringify(json, null, 2));
    assert.deepEqual(json.checks.map((c) => c.id), ORDER);
    for (const c of json.checks) {
      assert.ok(typeof c.finding === "string" && c.finding !== "", c.id);
      assert.equal(typeof c.remedy, "string");
      assert.equal(typeof c.details, "object");
      assert.equal(c.status, "ok", `${c.id}: ${c.finding}`);
    }
    assert.match(json.version, /^\d+\.\d+\.\d+/);
    assert.match(json.helpdesk ?? "", /helpdesk/);
    assert.equal(check(json, "root").details.published, env.ca.rootFingerprint);
    assert.equal(check(json, "revocation").details.responder, env.ocspUrl);

    const ja = await shomei(["doctor", "--store", u.store], { env: { LANG: "ja_JP.UTF-8", HTTPS_PROXY: "" } });
    assert.equal(ja.code, 0, ja.stdout + ja.stderr);
    assert.match(ja.stdout, /^\[正常\] 名前解決: /m);
    assert.match(ja.stdout, /^\[正常\] 秘密鍵: 秘密鍵は証明書と一致しています/m);
    assert.match(ja.stdout, /問題は見つかりませんでした/);
    assert.match(ja.stdout, /問い合わせ先: /);
  });

  test("two user IDs on one PC and no --user: each ID's certificate checked, labelled with the ID; exit 0", async () => {
    const store = join(tempDir(), "two-ids");
    await env.enrollWithCli("a0000111", store);
    await env.enrollWithCli("a0000112", store);
    const { code, json, stderr } = await doctorJson(["--store", store]);
    assert.equal(code, 0, stderr + JSON.stringify(json, null, 2));
    const perCert = ["certificate", "expiry", "revocation", "key", "duplicates"];
    assert.deepEqual(json.checks.map((c) => c.id), [...ORDER, ...perCert]);
    for (const c of json.checks) assert.equal(c.status, "ok", `${c.id}: ${c.finding}`);
    const certChecks = json.checks.filter((c) => c.id === "certificate");
    assert.deepEqual(certChecks.map((c) => c.details.userId), ["a0000111", "a0000112"]);
    assert.match(certChecks[1]?.finding ?? "", /a0000112/);

    const text = await shomei(["doctor", "--store", store], { env: { LANG: "en_US.UTF-8", HTTPS_PROXY: "" } });
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.match(text.stdout, /\[a0000111\]: /);
    assert.match(text.stdout, /\[a0000112\]: /);
    assert.doesNotMatch(text.stdout, /several user IDs/i);
  });

  test("at a real terminal: each check shows 'Checking: …' while it runs, then the line is replaced by its result", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const u = await env.enrollWithCli("a0000109");
    const r = await runAtTerminal([process.execPath, SHOMEI, "doctor", "--store", u.store, "--lang", "en"],
      { env: { HTTPS_PROXY: "", https_proxy: "" } });
    // The carriage return + "erase line" that replaces the progress line, made visible.
    const text = r.output.replaceAll("\r\u001b[K", "<CLEARED>");
    assert.equal(r.code, 0, text);
    assert.match(text, /Checking: Name resolution …<CLEARED>/, "the progress line is shown, then cleared");
    assert.match(text, /Checking: Revocation \(OCSP\) …<CLEARED>\[ok\] Revocation/);
    assert.match(text, /No problem found/);
  });

  test("no root in the store: a problem with `shomei root install` as the remedy", async () => {
    const u = await env.enrollWithCli("a0000102");
    const rm = await shomei(["root", "remove", "--server", env.server.url, "--yes", "--store", u.store]);
    assert.equal(rm.code, 0, rm.stderr);
    const { code, json } = await doctorJson(["--store", u.store]);
    assert.equal(code, 1);
    const root = check(json, "root");
    assert.equal(root.status, "problem");
    assert.match(root.finding, /trusts no root certificate/);
    assert.match(root.remedy, new RegExp(`shomei root install --server ${env.server.url.replace(/[.]/g, "\\.")}`));
    assert.match(root.remedy, /shomei enroll/);
  });

  test("a revoked certificate: OCSP says so, a problem with the new-passcode remedy", async () => {
    const u = await env.enrollWithCli("a0000110");
    const listed = await shomei(["list", "--store", u.store, "--lang", "en"]);
    const serial = /\b([0-9a-f]{16,})\b/.exec(listed.stdout)?.[1];
    assert.ok(serial, listed.stdout);
    const rv = await shomeiCa(["cert", "revoke", serial, "--reason", "keyCompromise", "--data", env.ca.dir]);
    assert.equal(rv.code, 0, rv.stderr);
    const { code, json } = await doctorJson(["--store", u.store]);
    assert.equal(code, 1);
    const r = check(json, "revocation");
    assert.equal(r.status, "problem", r.finding);
    assert.match(r.finding, /has been revoked \(\d{4}-\d\d-\d\d \d\d:\d\d \S+.*keyCompromise\)/);
    assert.match(r.remedy, /new passcode/);
    assert.match(r.remedy, /shomei enroll/);
    // Nothing else is wrong: the problem is named once.
    assert.deepEqual(json.checks.filter((c) => c.status !== "ok").map((c) => c.id), ["revocation"]);
  });

  /** A store with the user's certificate issued while the service's clock was `ago` in the past. */
  async function storeWithOldCertificate(userId: string, ago: number, store = join(tempDir(), "store"), again = false): Promise<string> {
    clock.offset = -ago;
    try {
      if (again) await env.server.services.registration.reissuePasscode(userId, "operator:test");
      const u = await env.enroll(userId, { register: !again });
      const fs = new FileStore(store);
      await fs.trustRoot(env.server.url, fromPem(env.rootPem, "CERTIFICATE"));
      await fs.saveCertificate({
        userId, server: env.server.url, certDer: fromPem(u.certPem, "CERTIFICATE"),
        chainDer: [fromPem(readFileSync(env.ca.issuingPem, "utf8"), "CERTIFICATE"), fromPem(env.rootPem, "CERTIFICATE")], privateKey: createPrivateKey(u.keyPem),
      });
      return store;
    } finally {
      clock.offset = 0;
    }
  }

  test("an expired certificate: a problem, and renewal is not offered (a new passcode is)", async () => {
    const store = await storeWithOldCertificate("a0000103", 400 * DAY);
    const { code, json } = await doctorJson(["--store", store]);
    assert.equal(code, 1);
    assert.equal(check(json, "certificate").status, "ok");
    const expiry = check(json, "expiry");
    assert.equal(expiry.status, "problem");
    assert.match(expiry.finding, /has expired/);
    assert.match(expiry.remedy, /new passcode/);
    assert.doesNotMatch(expiry.remedy, /shomei renew/);
  });

  test("expiring within 30 days, with an old certificate beside it: warnings (renew, prune), exit 0", async () => {
    const store = await storeWithOldCertificate("a0000104", 400 * DAY);
    await storeWithOldCertificate("a0000104", 355 * DAY, store, true);
    const { code, json, stderr } = await doctorJson(["--store", store]);
    assert.equal(code, 0, stderr + JSON.stringify(json, null, 2));
    const expiry = check(json, "expiry");
    assert.equal(expiry.status, "warning");
    assert.match(expiry.remedy, /shomei renew/);
    const dup = check(json, "duplicates");
    assert.equal(dup.status, "warning");
    assert.match(dup.finding, /2 certificates \(1 old\)/);
    assert.match(dup.remedy, /shomei prune/);
  });

  test("the server's clock 10 minutes ahead: a clock problem showing the difference", async () => {
    const u = await env.enrollWithCli("a0000105");
    clock.offset = 10 * 60_000;
    try {
      const { code, json } = await doctorJson(["--store", u.store]);
      assert.equal(code, 1);
      const c = check(json, "clock");
      assert.equal(c.status, "problem");
      assert.match(c.finding, /off by (9 min 5\d|10 min \d+) s/);
      assert.match(c.finding, /behind/);
      assert.match(c.remedy, /clock/);
      const d = Number(c.details.differenceSeconds);
      assert.ok(d < -590 && d > -660, String(d));
      // Two minutes: only a warning.
      clock.offset = 2 * 60_000;
      const w = await doctorJson(["--store", u.store]);
      assert.equal(check(w.json, "clock").status, "warning");
      assert.equal(w.code, 0);
    } finally {
      clock.offset = 0;
    }
  });

  test("a TLS-intercepting proxy: a problem naming the interception and the other CA", async () => {
    const u = await env.enrollWithCli("a0000106");
    const proxy = await startInterceptingProxy();
    try {
      const { code, json } = await doctorJson(["--store", u.store, "--proxy", proxy.url]);
      assert.equal(code, 1);
      assert.ok(proxy.connects.length > 0);
      assert.equal(check(json, "proxy").status, "ok");
      const tls = check(json, "tls");
      assert.equal(tls.status, "problem");
      assert.match(tls.finding, /replaces the server's certificate/);
      assert.match(tls.finding, new RegExp(proxy.caOrganization));
      assert.match(tls.remedy, /exclude this server \(127\.0\.0\.1\) from TLS inspection/);
      assert.equal(check(json, "clock").status, "skipped");
      assert.equal(check(json, "version").status, "skipped");
    } finally {
      await proxy.close();
    }
  });

  test("through tinyproxy with Basic auth: healthy, the OCSP question forwarded as plain HTTP; wrong credentials (tinyproxy's 401) are the proxy's", async (t) => {
    if (!(await needs(t, "tinyproxy"))) return;
    const u = await env.enrollWithCli("a0000118");
    const proxy = await startTinyproxy({ user: "suzuki", password: "Proxy-Pass-1" });
    try {
      const good = await doctorJson(["--store", u.store], { HTTPS_PROXY: proxy.withCredentials("suzuki", "Proxy-Pass-1"), NO_PROXY: "", no_proxy: "" });
      assert.equal(good.code, 0, JSON.stringify(good.json, null, 2));
      for (const c of good.json.checks) assert.equal(c.status, "ok", `${c.id}: ${c.finding}`);
      const log = proxy.log();
      assert.match(log, new RegExp(`CONNECT .*127\\.0\\.0\\.1:${new URL(env.server.url).port}`), "TLS went through a CONNECT tunnel");
      assert.match(log, new RegExp(`POST ${env.ocspUrl.replace(/[.]/g, "\\.")}`), "the OCSP POST was forwarded by the proxy");

      const wrong = await doctorJson(["--store", u.store], { HTTPS_PROXY: proxy.withCredentials("suzuki", "Not-Proxy-Pass"), NO_PROXY: "", no_proxy: "" });
      assert.equal(wrong.code, 1);
      const p = check(wrong.json, "proxy");
      assert.equal(p.status, "problem");
      assert.match(p.finding, /requires authentication \(HTTP 401\)/);
      assert.match(p.remedy, /ask your PC administrator, not the operator/i);
      assert.doesNotMatch(JSON.stringify(wrong.json), /Not-Proxy-Pass/);
    } finally {
      await proxy.close();
    }
  });

  test("a proxy that wants credentials, given wrong ones: the 407 wording (ask the PC administrator)", async () => {
    const u = await env.enrollWithCli("a0000107");
    const proxy = await startTestProxy({ user: "tanaka", password: "right-one" });
    try {
      const wrong = proxy.url.replace("http://", "http://tanaka:Wrong-Proxy-Secret@");
      const { code, json } = await doctorJson(["--store", u.store], { HTTPS_PROXY: wrong });
      assert.equal(code, 1);
      const p = check(json, "proxy");
      assert.equal(p.status, "problem");
      assert.match(p.finding, /requires authentication \(HTTP 407\)/);
      assert.match(p.finding, /not the ones from the operator/);
      assert.match(p.remedy, /ask your PC administrator, not the operator/i);
      assert.equal(check(json, "tls").status, "skipped");
      assert.doesNotMatch(JSON.stringify(json), /Wrong-Proxy-Secret/);
    } finally {
      await proxy.close();
    }
  });

  test("--report: 0600, the settings, results and certificate metadata, no secret; never overwritten without --force", async () => {
    const u = await env.enrollWithCli("a0000108");
    const { passcode } = await env.secretsFor(u.email);
    assert.ok(passcode);
    const userDir = join(u.store, "certs", "a0000108");
    const serialDir = join(userDir, readdirSync(userDir)[0] ?? "");
    const keyPem = readFileSync(join(serialDir, "key.pem"), "utf8");
    const keyBody = keyPem.split("\n")[1] ?? "";
    assert.ok(keyBody.length > 20);
    const proxy = await startTestProxy(); // asks for nothing: the credentials in its URL must still never be written
    const proxySecret = "Proxy-Secret-9876";
    const file = join(tempDir(), "report.txt");
    try {
      const args = ["doctor", "--store", u.store, "--report", file, "--lang", "en", "--proxy", proxy.url.replace("http://", `http://tanaka:${proxySecret}@`)];
      const r = await shomei(args);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Helpdesk: .*helpdesk/);
      assert.match(r.stdout, /Attach this file to your inquiry/);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const text = readFileSync(file, "utf8");
      assert.match(text, /^Date: \d{4}-\d\d-\d\d \d\d:\d\d \S+$/m);
      assert.match(text, /^shomei: \d+\.\d+\.\d+/m);
      assert.match(text, /^Node\.js: v\d+/m);
      assert.match(text, /^OS: /m);
      assert.match(text, new RegExp(`^Server: ${env.server.url.replace(/[.]/g, "\\.")}`, "m"));
      assert.match(text, /^Certificate store: file /m);
      assert.match(text, /^Proxy: http:\/\/tanaka:\*\*\*\*@127\.0\.0\.1:\d+$/m);
      assert.match(text, /^Language: en$/m);
      assert.match(text, /\[ok\] Private key: /);
      assert.match(text, /Serial: [0-9a-f]+/);
      assert.match(text, /SHA-256: ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
      assert.match(text, /Subject: .*a0000108/);
      assert.match(text, /^Helpdesk: /m);
      for (const secret of [keyBody, "PRIVATE KEY", passcode, u.password, proxySecret]) {
        assert.ok(!text.includes(secret), `the report contains a secret: ${secret.slice(0, 12)}…`);
      }
      const again = await shomei(args);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /\[REPORT_FILE_EXISTS\]/);
      assert.equal(again.stdout, "", "refused before any check ran");
      assert.equal(readFileSync(file, "utf8"), text, "the first report is untouched");
      const forced = await shomei([...args, "--force"]);
      assert.equal(forced.code, 0, forced.stderr);
    } finally {
      await proxy.close();
    }
  });
});

describe("a service that requires a newer shomei", () => {
  let env: PortalEnv;
  before(async () => { env = await startPortalEnv({ clock: offsetClock(), config: { minClientVersion: "99.0.0" } }); });
  after(async () => { await env?.stop(); });

  test("client too old: a problem with the upgrade remedy", async () => {
    const store = join(tempDir(), "store");
    const root = await shomei(["root", "install", "--server", env.server.url, "--root-fingerprint", env.ca.rootFingerprint, "--store", store]);
    assert.equal(root.code, 0, root.stderr);
    const { code, json } = await doctorJson(["--store", store, "--server", env.server.url]);
    assert.equal(code, 1);
    const v = check(json, "version");
    assert.equal(v.status, "problem");
    assert.match(v.finding, /needs 99\.0\.0 or later/);
    assert.match(v.remedy, /npm install -g shomei@latest/);
    assert.equal(check(json, "tls").status, "ok");
    // The store had no record of the service (no enrollment): doctor remembers the helpdesk it read.
    assert.equal((await new FileStore(store).serviceRecord(env.server.url))?.helpdesk, json.helpdesk);
  });
});

describe("a service that has become unreachable", () => {
  test("a closed port: a problem at the TCP step, later network checks skipped, the report still written with the stored helpdesk", async () => {
    const env = await startPortalEnv({ clock: offsetClock() });
    let store: string;
    try {
      store = (await env.enrollWithCli("a0000109")).store;
    } finally {
      await env.stop();
    }
    const file = join(tempDir(), "report.txt");
    const { code, json, stderr } = await doctorJson(["--store", store, "--report", file]);
    assert.notEqual(code, 0);
    assert.equal(check(json, "dns").status, "ok");
    const tcp = check(json, "tcp");
    assert.equal(tcp.status, "problem");
    assert.match(tcp.finding, /ECONNREFUSED/);
    for (const id of ["proxy", "tls", "clock", "version", "revocation"]) {
      const c = check(json, id);
      assert.equal(c.status, "skipped", id);
      assert.match(c.finding, /not checked \(because "/);
    }
    // The store's own checks still run.
    for (const id of ["store", "root", "certificate", "expiry", "key", "duplicates"]) assert.equal(check(json, id).status, "ok", id);
    assert.match(json.helpdesk ?? "", /helpdesk/);
    assert.match(stderr, /Attach this file/);
    const text = readFileSync(file, "utf8");
    assert.match(text, /\[problem\] Connection \(TCP\): /);
    assert.match(text, new RegExp(`^Helpdesk: ${(json.helpdesk ?? "").replace(/[.()]/g, "\\$&")}$`, "m"));
  });

  test("--server to a port nobody listens on: exit 1 at the TCP step", async () => {
    const port = await closedPort();
    const store = join(tempDir(), "empty");
    const { code, json } = await doctorJson(["--store", store, "--server", `https://127.0.0.1:${port}`]);
    assert.equal(code, 1);
    assert.equal(check(json, "tcp").status, "problem");
    assert.equal(check(json, "tls").status, "skipped");
  });
});

describe("with the certificate in an NSS database (--store nss:DIR)", () => {
  let env: PortalEnv;
  before(async () => { env = await startPortalEnv({ clock: offsetClock() }); });
  after(async () => { await env?.stop(); });

  test("healthy through certutil/pk12util; a database that cannot be opened is a store problem with the rest skipped", async (t) => {
    if (!(await needs(t, "nss"))) return;
    const dir = join(tempDir(), "nssdb");
    mkdirSync(dir);
    const made = await run("certutil", ["-N", "-d", `sql:${dir}`, "--empty-password"]);
    assert.equal(made.code, 0, made.stderr);
    await env.enrollWithCli("a0000181", `nss:${dir}`);
    const ok = await doctorJson(["--store", `nss:${dir}`]);
    assert.equal(ok.code, 0, JSON.stringify(ok.json, null, 2));
    for (const c of ok.json.checks) assert.equal(c.status, "ok", `${c.id}: ${c.finding}`);

    const missing = await doctorJson(["--store", `nss:${join(dir, "nowhere")}`, "--server", env.server.url]);
    assert.equal(missing.code, 1);
    assert.equal(check(missing.json, "store").status, "problem");
    for (const id of ["root", "certificate", "expiry", "revocation", "key", "duplicates"]) {
      assert.equal(check(missing.json, id).status, "skipped", id);
    }
  });
});
