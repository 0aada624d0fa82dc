/**
 * STEP 2 end to end, as a user does it: the operator runs `shomei-ca init`, `serve` and
 * `user add`; the passcode is read from the .eml in the outbox; `shomei enroll` obtains the
 * certificate; openssl verifies what was stored against the root and issuing CA.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";
import { addUser, initCa, serve, tempDir, type Served, type TestCa } from "../helpers/ca.js";
import { enroll as estEnroll } from "../helpers/est.js";
import { needs } from "../helpers/tools.js";
import { run, shomei, SHOMEI } from "../helpers/run.js";
import { runAtTerminal } from "../helpers/pty.js";
import { readCertsOnly } from "../../src/pki/pkcs7.js";
import { readCertificate } from "../../src/pki/certificate.js";

describe("shomei enroll against the real service", { timeout: 180_000 }, () => {
  let ca: TestCa;
  let srv: Served;
  before(async () => {
    ca = await initCa();
    srv = await serve(ca.dir);
  });
  after(async () => {
    await srv.stop();
    ca.cleanup();
  });

  test("init, serve, user add, passcode from the e-mail, shomei enroll; openssl verifies the stored certificate", async (t) => {
    if (!(await needs(t, "openssl", "python3"))) return;
    const { passcode } = await addUser(ca.dir, "a0000201");
    const store = join(tempDir(), "store");
    const r = await shomei(
      ["enroll", "--server", srv.url, "--user", "a0000201", "--passcode-stdin", "--root-fingerprint", ca.rootFingerprint, "--store", store],
      { input: `${passcode}\n`, env: { LANG: "ja_JP.UTF-8" } },
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.ok(r.stderr.includes(ca.rootFingerprint), "the root fingerprint is shown to the user");
    // A file store is not what the browser reads: the closing line says how to get it there,
    // not "restart the browser".
    assert.match(r.stdout, /shomei export --out ファイル名\.p12 で書き出してブラウザに読み込む/);
    assert.match(r.stdout, /--store nss:/);
    assert.doesNotMatch(r.stdout, /ブラウザを再起動/);

    const dir = join(store, "certs", "a0000201");
    const [serial] = readdirSync(dir);
    assert.ok(serial);
    const cert = join(dir, serial, "cert.pem");
    const key = join(dir, serial, "key.pem");
    assert.equal(statSync(key).mode & 0o777, 0o600);

    const v = await run("openssl", ["verify", "-CAfile", ca.rootPem, "-untrusted", ca.issuingPem, "-purpose", "sslclient", cert]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /OK/);
    const subject = await run("openssl", ["x509", "-in", cert, "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb"]);
    assert.match(subject.stdout, /CN=a0000201,O=テスト株式会社/);
    const fromCert = await run("openssl", ["x509", "-in", cert, "-noout", "-pubkey"]);
    const fromKey = await run("openssl", ["pkey", "-in", key, "-pubout"]);
    assert.equal(fromCert.stdout, fromKey.stdout, "the stored key belongs to the certificate");

    // The server recorded the same certificate; list shows it as current.
    const listed = JSON.parse((await shomei(["list", "--store", store, "--json"])).stdout) as { userId: string; serial: string; current: boolean; status: string }[];
    assert.deepEqual(listed.map((c) => [c.userId, c.serial, c.current, c.status]), [["a0000201", serial, true, "valid"]]);
    const show = JSON.parse((await run(process.execPath, [join(import.meta.dirname, "../../src/cli/shomei-ca.js"), "user", "show", "a0000201", "--json", "--data", ca.dir])).stdout) as { certificates: { serial: string }[]; passcode: { status: string } };
    assert.deepEqual(show.certificates.map((c) => c.serial), [serial]);
    assert.equal(show.passcode.status, "used");

    // The passcode worked once.
    const again = await shomei(["enroll", "--server", srv.url, "--user", "a0000201", "--passcode-stdin", "--store", join(tempDir(), "s2"), "--root-fingerprint", ca.rootFingerprint, "--lang", "en"], { input: passcode });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /\[PASSCODE_REJECTED\]/);
    assert.match(again.stderr, /What to do: .*new passcode/);
  });

  test("a wrong root fingerprint stops before the passcode is sent, and nothing is stored", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const { passcode } = await addUser(ca.dir, "a0000202");
    const store = join(tempDir(), "store");
    const wrong = ca.rootFingerprint.replace(/^../, ca.rootFingerprint.startsWith("00") ? "11" : "00");
    const r = await shomei(["enroll", "--server", srv.url, "--user", "a0000202", "--passcode-stdin", "--root-fingerprint", wrong, "--store", store], { input: passcode });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[ROOT_FINGERPRINT_MISMATCH\]/);
    assert.equal(existsSync(join(store, "certs")), false);
    const show = await run(process.execPath, [join(import.meta.dirname, "../../src/cli/shomei-ca.js"), "user", "show", "a0000202", "--json", "--data", ca.dir]);
    assert.equal((JSON.parse(show.stdout) as { passcode: { status: string; failedAttempts: number } }).passcode.failedAttempts, 0);
  });

  test("the answer was lost after issuance: running enroll again gets the same certificate, the passcode is not burnt", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const { passcode } = await addUser(ca.dir, "a0000203");
    const store = join(tempDir(), "store");
    const args = ["enroll", "--server", srv.url, "--user", "a0000203", "--passcode-stdin", "--root-fingerprint", ca.rootFingerprint, "--store", store];
    // A first run with a mistyped passcode leaves its key and CSR pending in the store.
    const typo = await shomei(args, { input: "2222-2222-2222-2222" });
    assert.equal(typo.code, 1);
    const csr = readFileSync(join(store, "pending", "a0000203", "csr.der"));
    // That CSR reaches the server with the right passcode, but the answer never reaches the PC.
    const lost = await estEnroll(srv.estUrl, ca.rootPem, "a0000203", passcode, csr.toString("base64"));
    assert.equal(lost.status, 200);
    const issued = readCertificate(readCertsOnly(Buffer.from(lost.body, "base64"))[0] as Buffer);
    // The user simply runs enroll again.
    const retry = await shomei(args, { input: passcode });
    assert.equal(retry.code, 0, retry.stderr);
    assert.deepEqual(readdirSync(join(store, "certs", "a0000203")), [issued.serialHex]);
    const stored = readFileSync(join(store, "certs", "a0000203", issued.serialHex, "cert.pem"), "utf8");
    assert.ok(stored.includes(issued.der.toString("base64").slice(0, 64)));
    assert.equal(existsSync(join(store, "pending", "a0000203")), false);
  });

  test("with no fingerprint and no terminal to ask, enroll stops and shows the fingerprint to compare", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const { passcode } = await addUser(ca.dir, "a0000204");
    const store = join(tempDir(), "store");
    const r = await shomei(["enroll", "--server", srv.url, "--user", "a0000204", "--passcode-stdin", "--store", store, "--lang", "en"], { input: passcode });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[ROOT_NOT_CONFIRMED\]/);
    assert.ok(r.stderr.includes(ca.rootFingerprint), "the fingerprint to compare is shown");
    assert.equal(existsSync(join(store, "certs")), false);
  });

  test("at a real terminal: the user answers y to the root, types the passcode unseen, and gets the certificate", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const { passcode } = await addUser(ca.dir, "a0000205");
    const store = join(tempDir(), "store");
    // A real terminal (Python's pty): the answers are typed when their prompts appear.
    const r = await runAtTerminal([process.execPath, SHOMEI,
      "enroll", "--server", srv.url, "--user", "a0000205", "--store", store, "--lang", "en"],
    { answers: [{ when: "[y/N]", send: "y" }, { when: "Passcode (", send: passcode }] });
    assert.equal(r.code, 0, r.output);
    assert.ok(r.output.includes(ca.rootFingerprint), "fingerprint shown before the question");
    assert.match(r.output, /Trust this root certificate\? \[y\/N\]/);
    assert.ok(!r.output.includes(passcode), "the passcode is not echoed");
    assert.equal(readdirSync(join(store, "certs", "a0000205")).length, 1);
  });
});
