/**
 * `shomei export` and `shomei import` as a user runs them, against files other tools read and
 * write: OpenSSL (default and -legacy) and NSS's pk12util. The certificate comes from a real
 * enrollment; the imported copy then logs in to the portal (`shomei login-check`).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodePkcs12 } from "../../src/pki/pkcs12.js";
import { exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem } from "../../src/pki/keys.js";
import { fromPem } from "../../src/pki/pem.js";
import { run, shomei, SHOMEI } from "../helpers/run.js";
import { runAtTerminal } from "../helpers/pty.js";
import { tempDir } from "../helpers/ca.js";
import { issueClientCert, makeTestCa, DAY } from "../helpers/client_pki.js";
import { startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { realClock } from "../helpers/inprocess.js";
import { needs } from "../helpers/tools.js";

const PASS = "Backup-Pass-2026!";
let env: PortalEnv;
let store: string;
let initial: string;
let certPath: string;
let keyPath: string;

before(async () => {
  env = await startPortalEnv({ clock: realClock() });
  const email = "a0000901@example.jp";
  await env.server.services.registration.addUser({ userId: "a0000901", email, name: "山田 花子" }, "operator:test");
  const s = await env.secretsFor(email);
  initial = s.password ?? "";
  store = join(tempDir(), "store");
  const r = await shomei(["enroll", "--server", env.server.url, "--user", "a0000901", "--root-fingerprint", env.ca.rootFingerprint, "--passcode-stdin", "--store", store],
    { input: `${s.passcode ?? ""}\n` });
  assert.equal(r.code, 0, r.stderr);
  const dir = join(store, "certs", "a0000901");
  const serial = readdirSync(dir)[0] ?? "";
  certPath = join(dir, serial, "cert.pem");
  keyPath = join(dir, serial, "key.pem");
});

after(async () => { await env?.stop(); });

const exportTo = (file: string, extra: readonly string[] = [], password = PASS): ReturnType<typeof shomei> =>
  shomei(["export", "--out", file, "--password-stdin", "--store", store, ...extra], { input: `${password}\n` });

const importFrom = (file: string, into: string, extra: readonly string[], password = PASS): ReturnType<typeof shomei> =>
  shomei(["import", file, "--password-stdin", "--store", into, ...extra], { input: `${password}\n` });

describe("export", () => {
  test("modern (default): a 0600 file OpenSSL reads with the same key; never overwritten without --force", async (t) => {
    const file = join(tempDir(), "a0000901.p12");
    const r = await exportTo(file);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /nobody \(not the operator either\) can open the backup/);
    assert.match(r.stdout, /Wrote the certificate of user ID a0000901 .* and 2 CA certificate\(s\) to .* \(AES-256 \/ SHA-256\)/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    if (await needs(t, "openssl")) {
      const info = await run("openssl", ["pkcs12", "-in", file, "-passin", `pass:${PASS}`, "-info", "-noout"]);
      assert.match(info.stderr + info.stdout, /PBES2, PBKDF2, AES-256-CBC/);
      assert.match(info.stderr + info.stdout, /MAC: sha256/);
      const pem = await run("openssl", ["pkcs12", "-in", file, "-passin", `pass:${PASS}`, "-nodes"]);
      assert.equal(pem.code, 0, pem.stderr);
      const key = importPrivateKeyPem(pem.stdout.slice(pem.stdout.indexOf("-----BEGIN PRIVATE KEY-----")));
      assert.equal(exportPrivateKeyPem(key), exportPrivateKeyPem(importPrivateKeyPem(readFileSync(keyPath, "utf8"))));
      assert.ok(pem.stdout.includes(readFileSync(certPath, "utf8").trim().split("\n")[1] ?? "x"));
    }
    const before = readFileSync(file);
    const again = await exportTo(file);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /\[BACKUP_FILE_EXISTS\]/);
    assert.ok(readFileSync(file).equals(before), "the existing file is untouched");
    assert.equal((await exportTo(file, ["--force"])).code, 0);
  });

  test("compatible: 3DES and a SHA-1 MAC, for older Windows and macOS", async (t) => {
    const file = join(tempDir(), "old.pfx");
    const r = await exportTo(file, ["--profile", "compatible"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /3DES \/ SHA-1/);
    if (await needs(t, "openssl")) {
      const info = await run("openssl", ["pkcs12", "-in", file, "-passin", `pass:${PASS}`, "-info", "-noout"]);
      assert.match(info.stderr + info.stdout, /pbeWithSHA1And3-KeyTripleDES-CBC/);
      assert.match(info.stderr + info.stdout, /MAC: sha1/);
    }
  });

  test("a weak password, an empty store, a wrong profile: clear errors, no file", async () => {
    const file = join(tempDir(), "weak.p12");
    const weak = await exportTo(file, [], "short");
    assert.equal(weak.code, 1);
    assert.match(weak.stderr, /\[BACKUP_PASSWORD_WEAK\]/);
    assert.equal((await exportTo(file, [], "a0000901-backup-x")).code, 1, "containing the user ID");
    assert.equal(existsSync(file), false);
    const empty = await shomei(["export", "--out", file, "--password-stdin", "--store", join(tempDir(), "none")], { input: `${PASS}\n` });
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /\[NO_CERTIFICATE_IN_STORE\]/);
    const bad = await exportTo(file, ["--profile", "rc4"]);
    assert.equal(bad.code, 2);
    assert.equal(existsSync(file), false);
  });

  test("at a terminal it asks only after checking: an existing file is said before the password, with several user IDs a numbered choice comes first, a weak password after the first entry, a missing import file before its password", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const at = (args: readonly string[], answers: { when: string; send: string }[]): ReturnType<typeof runAtTerminal> =>
      runAtTerminal([process.execPath, SHOMEI, ...args, "--store", store], { answers, env: { LANG: "en_US.UTF-8" } });
    const existing = join(tempDir(), "existing.p12");
    writeFileSync(existing, "an older backup");
    const exists = await at(["export", "--out", existing], [{ when: "Backup password", send: PASS }, { when: "Type it again", send: PASS }]);
    assert.equal(exists.code, 1, exists.output);
    assert.match(exists.output, /\[BACKUP_FILE_EXISTS\]/);
    assert.doesNotMatch(exists.output, /Backup password/, "no password asked for a file that cannot be written");
    assert.equal(readFileSync(existing, "utf8"), "an older backup");

    const file = join(tempDir(), "weak-at-terminal.p12");
    const weak = await at(["export", "--out", file], [{ when: "Backup password", send: "short" }, { when: "Type it again", send: "short" }]);
    assert.equal(weak.code, 1, weak.output);
    assert.match(weak.output, /\[BACKUP_PASSWORD_WEAK\]/);
    assert.doesNotMatch(weak.output, /Type it again/, "judged after the first entry");
    assert.equal(existsSync(file), false);

    // Two user IDs on this PC and no --user: a numbered choice before any password is asked;
    // choosing 2 exports the second. Without a terminal: USER_AMBIGUOUS says what to type.
    const two = join(tempDir(), "two-ids");
    await env.enrollWithCli("a0000902", two);
    await env.enrollWithCli("a0000903", two);
    const chosen = await runAtTerminal([process.execPath, SHOMEI, "export", "--out", file, "--store", two],
      { answers: [{ when: "Number of the user ID", send: "2" }, { when: "Backup password", send: PASS }, { when: "Type it again", send: PASS }], env: { LANG: "en_US.UTF-8" } });
    assert.equal(chosen.code, 0, chosen.output);
    assert.match(chosen.output, /1\) a0000902 .* expires \d{4}-\d{2}-\d{2}/);
    assert.match(chosen.output, /2\) a0000903 +\S.* expires /, "each user ID with a name from the certificate");
    assert.ok(chosen.output.indexOf("Number of the user ID") < chosen.output.indexOf("Backup password"), "the user ID is chosen before any password is asked");
    assert.match(chosen.output, /Wrote the certificate of user ID a0000903 /);
    const script = await shomei(["export", "--out", join(tempDir(), "script.p12"), "--password-stdin", "--store", two], { input: `${PASS}\n` });
    assert.equal(script.code, 2, script.stderr);
    assert.match(script.stderr, /\[USER_AMBIGUOUS\]/);
    assert.match(script.stderr, /a0000902, a0000903/);
    assert.match(script.stderr, /--user a0000903/);

    const missing = await at(["import", join(tempDir(), "nope.p12")], [{ when: "password", send: PASS }]);
    assert.equal(missing.code, 1, missing.output);
    assert.match(missing.output, /\[BACKUP_READ_FAILED\]/);
    assert.doesNotMatch(missing.output, /The file's password/, "no password asked for a file that is not there");
  });
});

describe("import", () => {
  test("on another PC: the root warning, then the imported certificate logs in to the portal", async () => {
    const file = join(tempDir(), "move.p12");
    assert.equal((await exportTo(file)).code, 0);
    const other = join(tempDir(), "other-pc");
    const wrong = await importFrom(file, other, ["--server", env.server.url], "Not-The-Password-1");
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /\[PKCS12_PASSWORD_WRONG\]/);
    const unconfirmed = await importFrom(file, other, ["--server", env.server.url]);
    assert.equal(unconfirmed.code, 1);
    assert.match(unconfirmed.stderr, /SHA-256 fingerprint:\s+([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    assert.ok(unconfirmed.stderr.includes(env.ca.rootFingerprint), "the fingerprint shown is the root's");
    assert.match(unconfirmed.stderr, /Security warning: you are about to trust a certificate authority/);
    assert.match(unconfirmed.stderr, /\[IMPORT_NOT_CONFIRMED\]/);
    assert.equal(existsSync(join(other, "certs")), false, "nothing stored");
    const mismatch = await importFrom(file, other, ["--server", env.server.url, "--root-fingerprint", "00".repeat(32)]);
    assert.match(mismatch.stderr, /\[ROOT_FINGERPRINT_MISMATCH\]/);
    const ok = await importFrom(file, other, ["--server", env.server.url, "--root-fingerprint", env.ca.rootFingerprint]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Imported: certificate/);
    // A file store: how to get the certificate into the browser, not "restart the browser".
    assert.match(ok.stdout, /import the \.p12 file into the browser, or import with --store nss:/);
    assert.doesNotMatch(ok.stderr, /holds no root certificate/, "the file brought its root");
    const again = await importFrom(file, other, []);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already in the store/);
    const login = await shomei(["login-check", "--server", env.url, "--store", other, "--password-stdin"], { input: `${initial}\n` });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login works \(user ID a0000901\)/);
  });

  test("files made by OpenSSL (default and -legacy) import", async (t) => {
    if (!(await needs(t, "openssl"))) return;
    const chain = join(tempDir(), "chain.pem");
    writeFileSync(chain, readFileSync(env.ca.issuingPem, "utf8") + readFileSync(env.ca.rootPem, "utf8"));
    for (const legacy of [false, true]) {
      const file = join(tempDir(), legacy ? "legacy.p12" : "default.p12");
      const made = await run("openssl", ["pkcs12", "-export", ...(legacy ? ["-legacy"] : []), "-inkey", keyPath, "-in", certPath, "-certfile", chain, "-passout", `pass:${PASS}`, "-out", file]);
      assert.equal(made.code, 0, made.stderr);
      const into = join(tempDir(), "s");
      const r = await importFrom(file, into, ["--server", env.server.url, "--yes"]);
      assert.equal(r.code, 0, `${legacy ? "-legacy" : "default"}: ${r.stderr}`);
      const list = JSON.parse((await shomei(["list", "--json", "--store", into])).stdout) as { userId: string; current: boolean }[];
      assert.deepEqual(list.map((x) => [x.userId, x.current]), [["a0000901", true]]);
    }
  });

  test("a file exported by NSS (pk12util -o) imports", async (t) => {
    if (!(await needs(t, "nss", "openssl"))) return;
    const db = join(tempDir(), "nssdb");
    mkdirSync(db);
    assert.equal((await run("certutil", ["-N", "-d", `sql:${db}`, "--empty-password"])).code, 0);
    const p12 = join(tempDir(), "in.p12");
    assert.equal((await exportTo(p12)).code, 0);
    const imp = await run("pk12util", ["-i", p12, "-d", `sql:${db}`, "-W", PASS]);
    assert.equal(imp.code, 0, imp.stderr + imp.stdout);
    const out = join(tempDir(), "nss-out.p12");
    const exp = await run("pk12util", ["-o", out, "-n", "a0000901", "-d", `sql:${db}`, "-W", PASS]);
    assert.equal(exp.code, 0, exp.stderr + exp.stdout);
    const r = await importFrom(out, join(tempDir(), "s"), ["--server", env.server.url, "--yes"]);
    assert.equal(r.code, 0, r.stderr);
  });

  test("bad files: truncated, no key, no certificate, a key that does not match; nothing stored", async (t) => {
    const good = join(tempDir(), "good.p12");
    assert.equal((await exportTo(good)).code, 0);
    const bytes = readFileSync(good);
    const truncated = join(tempDir(), "truncated.p12");
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const into = join(tempDir(), "s");
    const cases: [string, string][] = [[truncated, "PKCS12_MALFORMED"]];
    const garbage = join(tempDir(), "notes.txt");
    writeFileSync(garbage, "これは証明書ではありません\n");
    cases.push([garbage, "PKCS12_MALFORMED"]);
    // A key with somebody else's certificate (our encoder does not check; the importer must).
    const stranger = await generateKeyPair();
    const mismatched = join(tempDir(), "mismatch.p12");
    writeFileSync(mismatched, encodePkcs12({
      privateKey: stranger.privateKey, certificate: fromPem(readFileSync(certPath, "utf8"), "CERTIFICATE"), chain: [], password: PASS, profile: "modern", iterations: 1000,
    }));
    cases.push([mismatched, "PKCS12_KEY_MISMATCH"]);
    if (await needs(t, "openssl")) {
      const noKey = join(tempDir(), "nokey.p12");
      assert.equal((await run("openssl", ["pkcs12", "-export", "-nokeys", "-in", certPath, "-passout", `pass:${PASS}`, "-out", noKey])).code, 0);
      cases.push([noKey, "PKCS12_NO_KEY"]);
      const noCert = join(tempDir(), "nocert.p12");
      assert.equal((await run("openssl", ["pkcs12", "-export", "-nocerts", "-inkey", keyPath, "-passout", `pass:${PASS}`, "-out", noCert])).code, 0);
      cases.push([noCert, "PKCS12_NO_CERTIFICATE"]);
    }
    for (const [file, code] of cases) {
      const r = await importFrom(file, into, ["--server", env.server.url, "--yes"]);
      assert.equal(r.code, 1, `${file}: ${r.stdout}`);
      assert.match(r.stderr, new RegExp(`\\[${code}\\]`), file);
    }
    assert.equal(existsSync(join(into, "certs")), false, "nothing stored");
    const missing = await importFrom(join(tempDir(), "nope.p12"), into, []);
    assert.match(missing.stderr, /\[BACKUP_READ_FAILED\]/);
  });

  test("a file without the root: imported, and the user is told at once that no root is trusted and what to run", async () => {
    const file = join(tempDir(), "no-root.p12");
    writeFileSync(file, encodePkcs12({
      privateKey: importPrivateKeyPem(readFileSync(keyPath, "utf8")), certificate: fromPem(readFileSync(certPath, "utf8"), "CERTIFICATE"),
      chain: [fromPem(readFileSync(env.ca.issuingPem, "utf8"), "CERTIFICATE")], password: PASS, profile: "modern", iterations: 1000,
    }));
    const fresh = join(tempDir(), "fresh");
    const r = await importFrom(file, fresh, ["--server", env.server.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Imported: certificate/);
    assert.match(r.stderr, /the file holds no root certificate, and this store does not yet trust the root .* shomei root install --server URL/s);
    const status = await shomei(["root", "status", "--store", fresh]);
    assert.equal(status.code, 1, "root status agrees: nothing trusted yet");
    // A store that already trusts the service's root needs no such note.
    const known = await importFrom(file, store, []);
    assert.equal(known.code, 0, known.stderr);
    assert.doesNotMatch(known.stderr, /holds no root certificate/);
  });

  test("a file whose certificate is a CA's (like pyca's test vectors): PKCS12_CA_CERTIFICATE, not a damaged file", async () => {
    const ca = await makeTestCa({ organization: "Vector CA" });
    const file = join(tempDir(), "ca-key.p12");
    writeFileSync(file, encodePkcs12({ privateKey: ca.issuingKey.privateKey, certificate: ca.issuingDer, chain: [ca.rootDer], password: PASS, profile: "modern", iterations: 1000 }));
    const into = join(tempDir(), "s");
    const r = await importFrom(file, into, ["--server", env.server.url, "--yes"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[PKCS12_CA_CERTIFICATE\]/);
    assert.match(r.stderr, /holds a CA certificate, not a user certificate/);
    assert.doesNotMatch(r.stderr, /PKCS12_KEY_MISMATCH/);
    assert.equal(existsSync(join(into, "certs")), false, "nothing stored");
  });

  test("a certificate from another CA: warned that the portal will not accept it", async () => {
    const other = await makeTestCa({ organization: "Other Corp" });
    const key = await generateKeyPair();
    const now = new Date();
    const der = await issueClientCert(other, { publicKey: key.publicKey, commonName: "a0000901", notBefore: now, notAfter: new Date(now.getTime() + 30 * DAY) });
    const file = join(tempDir(), "other-ca.p12");
    writeFileSync(file, encodePkcs12({ privateKey: key.privateKey, certificate: der, chain: [other.issuingDer, other.rootDer], password: PASS, profile: "modern", iterations: 1000 }));
    // The user's store already trusts this service's root.
    const r = await importFrom(file, store, []);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /comes from another certificate authority .* will not accept it for login/s);
    assert.match(r.stderr, /\[IMPORT_NOT_CONFIRMED\]/);
    assert.equal(readdirSync(join(store, "certs", "a0000901")).length, 1, "nothing added");
  });
});
