/**
 * `shomei list`, `shomei prune` and `shomei root` as a user runs them, on stores filled by
 * the real `shomei enroll` at the real service (in this process, wall clock), plus an expired
 * certificate written into the store the way the store writes one (it cannot be obtained
 * from a CA today). Questions at a terminal are answered through a pty (python3).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { shomei, SHOMEI } from "../helpers/run.js";
import { runAtTerminal } from "../helpers/pty.js";
import { tempDir } from "../helpers/ca.js";
import { startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { realClock } from "../helpers/inprocess.js";
import { DAY, issueClientCert, makeTestCa } from "../helpers/client_pki.js";
import { needs } from "../helpers/tools.js";
import { FileStore } from "../../src/client/file_store.js";
import { generateKeyPair } from "../../src/pki/keys.js";
import { readCertificate } from "../../src/pki/certificate.js";
import { toPem } from "../../src/pki/pem.js";

let env: PortalEnv;

before(async () => {
  env = await startPortalEnv({ clock: realClock() });
});

after(async () => {
  await env?.stop();
});

interface ListedJson {
  userId: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  status: string;
  current: boolean;
  fingerprint: string;
  issuer: string;
  server: string | null;
  certPath: string;
  keyPath: string;
  chainPath: string;
}

async function listJson(store: string, extra: readonly string[] = []): Promise<ListedJson[]> {
  const r = await shomei(["list", "--store", store, "--json", ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ListedJson[];
}

/** `shomei enroll` for the user (registered on first use, a new passcode after that) into the store; returns the serial. */
async function enroll(userId: string, store: string): Promise<string> {
  const email = `${userId}@example.jp`;
  const registration = env.server.services.registration;
  if (await env.server.services.store.getUser(userId)) await registration.reissuePasscode(userId, "operator:test");
  else await registration.addUser({ userId, email, name: `利用者 ${userId}` }, "operator:test");
  const { passcode } = await env.secretsFor(email);
  assert.ok(passcode);
  const before = existsSync(join(store, "certs", userId)) ? readdirSync(join(store, "certs", userId)) : [];
  const r = await shomei(["enroll", "--server", env.server.url, "--user", userId, "--root-fingerprint", env.ca.rootFingerprint, "--passcode-stdin", "--store", store],
    { input: `${passcode}\n` });
  assert.equal(r.code, 0, r.stderr);
  const serial = readdirSync(join(store, "certs", userId)).find((s) => !before.includes(s));
  assert.ok(serial);
  return serial;
}

/** An expired certificate for the user ID, written into the store as the store writes certificates. */
async function addExpired(store: string, userId: string): Promise<string> {
  const ca = await makeTestCa({ now: new Date(Date.now() - 800 * DAY) });
  const key = await generateKeyPair("ec-p256");
  const notAfter = new Date(Date.now() - 3 * DAY);
  const certDer = await issueClientCert(ca, { publicKey: key.publicKey, commonName: userId, notBefore: new Date(notAfter.getTime() - 365 * DAY), notAfter });
  await new FileStore(store).saveCertificate({ userId, server: env.server.url, certDer, chainDer: [ca.issuingDer, ca.rootDer], privateKey: key.privateKey });
  return readCertificate(certDer).serialHex;
}

/** Two real certificates (the second issued at least a second later, so it expires later) and an expired one. */
async function threeCertificates(userId: string): Promise<{ store: string; first: string; second: string; expired: string }> {
  const store = join(tempDir(), "store");
  const first = await enroll(userId, store);
  await new Promise((r) => setTimeout(r, 1100)); // X.509 times have whole seconds
  const second = await enroll(userId, store);
  const expired = await addExpired(store, userId);
  return { store, first, second, expired };
}

const certDir = (store: string, userId: string, serial: string): string => join(store, "certs", userId, serial);

/** Runs shomei at a real terminal and answers `answer` to the first [y/N] question. */
async function atTerminal(args: readonly string[], answer: string): Promise<{ code: number | null; out: string }> {
  const r = await runAtTerminal([process.execPath, SHOMEI, ...args], { answers: [{ when: "[y/N]", send: answer }], env: { LANG: "en_US.UTF-8" } });
  return { code: r.code, out: r.output };
}

test("list: every certificate with its status (valid, superseded, expired), the current one marked; JSON fields; --user", async () => {
  const { store, first, second, expired } = await threeCertificates("a0000601");
  const rows = await listJson(store);
  assert.deepEqual(rows.map((r) => [r.userId, r.serial, r.status, r.current]), [
    ["a0000601", second, "valid", true],
    ["a0000601", first, "superseded", false],
    ["a0000601", expired, "expired", false],
  ]);
  const [cur, old, gone] = rows;
  assert.ok(cur && old && gone);
  assert.match(cur.serial, /^[0-9a-f]+$/);
  assert.equal(new Date(cur.notAfter).toISOString(), cur.notAfter);
  assert.ok(Date.parse(cur.notBefore) < Date.parse(cur.notAfter));
  assert.ok(cur.daysLeft > 300);
  assert.ok(gone.daysLeft < 0);
  assert.match(cur.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.match(cur.issuer, /CN=/);
  assert.equal(cur.server, env.server.url);
  assert.equal(cur.certPath, join(certDir(store, "a0000601", second), "cert.pem"));
  assert.equal(cur.keyPath, join(certDir(store, "a0000601", second), "key.pem"));
  assert.equal(cur.chainPath, join(certDir(store, "a0000601", second), "chain.pem"));

  const text = await shomei(["list", "--store", store]);
  assert.equal(text.code, 0, text.stderr);
  // People read the expiry in the PC's time zone, with the zone named; --json keeps ISO 8601.
  const inTokyo = new Date(Date.parse(cur.notAfter) + 9 * 3600_000).toISOString().slice(0, 16).replace("T", " ");
  const tokyo = await shomei(["list", "--store", store], { env: { TZ: "Asia/Tokyo" } });
  assert.ok(tokyo.stdout.includes(`${inTokyo} JST`), tokyo.stdout);
  const utc = await shomei(["list", "--store", store], { env: { TZ: "UTC" } });
  assert.ok(utc.stdout.includes(`${cur.notAfter.slice(0, 16).replace("T", " ")} UTC`), utc.stdout);
  assert.match(text.stdout, new RegExp(`^\\*\\s+a0000601\\s+${second}\\s.*valid$`, "m"));
  assert.match(text.stdout, new RegExp(`^\\s+a0000601\\s+${first}\\s.*superseded$`, "m"));
  assert.match(text.stdout, new RegExp(`^\\s+a0000601\\s+${expired}\\s.*expired$`, "m"));
  assert.match(text.stdout, /Old \(superseded or expired\) certificates: 2\. shomei prune removes them/);
  const ja = await shomei(["list", "--store", store, "--lang", "ja"]);
  assert.match(ja.stdout, new RegExp(`^\\s+a0000601\\s+${first}\\s.*置き換え済み$`, "m"));

  assert.deepEqual(await listJson(store, ["--user", "b0000000"]), []);
  const none = await shomei(["list", "--store", store, "--user", "b0000000"]);
  assert.equal(none.code, 0);
  assert.match(none.stdout, /no certificates for user ID b0000000/);
  assert.equal((await listJson(store, ["--user", "a0000601"])).length, 3);
  assert.equal((await shomei(["list", "--store", store, "--user", "../x"])).code, 2);
});

test("prune: without a terminal and without --yes it refuses and removes nothing; with --yes it removes the superseded and the expired one, never the current one", async () => {
  const { store, first, second, expired } = await threeCertificates("a0000602");
  const refused = await shomei(["prune", "--store", store]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /\[CONFIRMATION_REQUIRED\]/);
  assert.match(refused.stderr, /--yes/);
  assert.match(refused.stdout, new RegExp(`a0000602\\s+serial ${first}\\s.*because: a newer valid certificate exists`));
  assert.match(refused.stdout, new RegExp(`a0000602\\s+serial ${expired}\\s.*because: it has expired`));
  for (const s of [first, second, expired]) assert.ok(existsSync(join(certDir(store, "a0000602", s), "key.pem")), s);

  const r = await shomei(["prune", "--store", store, "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`Removed: a0000602\\s+serial ${first}`));
  assert.match(r.stdout, new RegExp(`Removed: a0000602\\s+serial ${expired}`));
  assert.match(r.stdout, new RegExp(`Kept \\(the current certificate\\): a0000602\\s+serial ${second}`));
  assert.match(r.stdout, /Removed 2 certificate\(s\)\./);
  assert.equal(existsSync(certDir(store, "a0000602", first)), false);
  assert.equal(existsSync(certDir(store, "a0000602", expired)), false);
  assert.deepEqual(readdirSync(join(store, "certs", "a0000602")), [second], "no key, chain or temporary folder left behind");
  assert.deepEqual(readdirSync(certDir(store, "a0000602", second)).sort(), ["cert.pem", "chain.pem", "key.pem"]);
  assert.deepEqual((await listJson(store)).map((x) => [x.serial, x.status, x.current]), [[second, "valid", true]]);

  const again = await shomei(["prune", "--store", store]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /There is nothing to remove\./);
});

test("prune with one certificate says there is nothing to do (exit 0); a user ID with no valid certificate keeps its expired ones; --user limits it", async () => {
  const store = join(tempDir(), "store");
  const only = await enroll("a0000603", store);
  const r = await shomei(["prune", "--store", store]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /There is nothing to remove\./);
  assert.match(r.stdout, new RegExp(`Kept \\(the current certificate\\): a0000603\\s+serial ${only}`));

  const e1 = await addExpired(store, "c0000604");
  const e2 = await addExpired(store, "c0000604");
  const kept = await shomei(["prune", "--store", store, "--yes", "--lang", "ja"]);
  assert.equal(kept.code, 0, kept.stderr);
  assert.match(kept.stdout, /ユーザID c0000604 の証明書 2 件は残します/);
  assert.match(kept.stdout, /削除する証明書はありません。/);
  assert.deepEqual(readdirSync(join(store, "certs", "c0000604")).sort(), [e1, e2].sort());

  // An old certificate of another user ID is not touched by --user a0000603.
  await addExpired(store, "a0000603");
  const limited = await shomei(["prune", "--store", store, "--yes", "--user", "c0000604"]);
  assert.equal(limited.code, 0, limited.stderr);
  assert.equal(readdirSync(join(store, "certs", "a0000603")).length, 2);
  const other = await shomei(["prune", "--store", store, "--yes", "--user", "z0000000"]);
  assert.equal(other.code, 0);
  assert.match(other.stdout, /no certificates for user ID z0000000/);
});

test("prune at a terminal: shows what it removes, then n removes nothing (exit 1) and y removes", async (t) => {
  if (!(await needs(t, "python3"))) return;
  const { store, first, second, expired } = await threeCertificates("a0000605");
  const no = await atTerminal(["prune", "--store", store], "n");
  assert.equal(no.code, 1, no.out);
  assert.match(no.out, /Remove 2 certificate\(s\)\? \[y\/N\]/);
  assert.match(no.out, /\[CANCELLED\]/);
  assert.equal((await listJson(store)).length, 3);
  const yes = await atTerminal(["prune", "--store", store], "y");
  assert.equal(yes.code, 0, yes.out);
  assert.deepEqual(readdirSync(join(store, "certs", "a0000605")), [second]);
  assert.ok(!existsSync(certDir(store, "a0000605", first)) && !existsSync(certDir(store, "a0000605", expired)));
});

test("root status: trusted after enroll (exit 0, name, validity, fingerprint); not trusted for another server or an empty store (exit 1)", async () => {
  const store = join(tempDir(), "store");
  await enroll("a0000606", store);
  const all = await shomei(["root", "status", "--store", store]);
  assert.equal(all.code, 0, all.stderr + all.stdout);
  assert.ok(all.stdout.includes(`${env.server.url}: a root certificate is trusted`));
  assert.ok(all.stdout.includes(env.ca.rootFingerprint));
  assert.match(all.stdout, /Name: .*CN=/);
  assert.match(all.stdout, /Valid: +\d{4}-\d\d-\d\d \d\d:\d\d \S+ to \d{4}-\d\d-\d\d \d\d:\d\d \S+/);
  const one = await shomei(["root", "status", "--store", store, "--server", `${env.server.url}/.well-known/est/`]);
  assert.equal(one.code, 0, one.stdout);

  const elsewhere = await shomei(["root", "status", "--store", store, "--server", "https://ca.example.jp"]);
  assert.equal(elsewhere.code, 1);
  assert.match(elsewhere.stdout, /https:\/\/ca\.example\.jp: no root certificate is trusted/);
  assert.match(elsewhere.stdout, /shomei root install --server https:\/\/ca\.example\.jp/);
  const empty = await shomei(["root", "status", "--store", join(tempDir(), "nothing")]);
  assert.equal(empty.code, 1);
  assert.match(empty.stdout, /knows no server/);
});

test("root install from the server: a right fingerprint trusts it; a wrong one is an error that trusts nothing; no terminal and no fingerprint trusts nothing", async () => {
  const store = join(tempDir(), "store");
  const wrong = env.ca.rootFingerprint.replace(/^../, env.ca.rootFingerprint.startsWith("00") ? "11" : "00");
  const bad = await shomei(["root", "install", "--store", store, "--server", env.server.url, "--root-fingerprint", wrong]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /\[ROOT_FINGERPRINT_MISMATCH\]/);
  assert.ok(bad.stderr.includes(env.ca.rootFingerprint), "the fingerprint offered is shown");
  assert.equal(existsSync(join(store, "roots")), false);
  assert.equal((await shomei(["root", "status", "--store", store, "--server", env.server.url])).code, 1);

  const unasked = await shomei(["root", "install", "--store", store, "--server", env.server.url, "--yes"]);
  assert.equal(unasked.code, 1);
  assert.match(unasked.stderr, /\[ROOT_INSTALL_NOT_CONFIRMED\]/);
  assert.match(unasked.stderr, /Security warning/);
  assert.match(unasked.stderr, /what the operator gave you/);
  assert.equal(existsSync(join(store, "roots")), false);

  const ok = await shomei(["root", "install", "--store", store, "--server", env.server.url, "--root-fingerprint", env.ca.rootFingerprint.toLowerCase()]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /The root certificate is now trusted for/);
  assert.equal(readdirSync(join(store, "roots")).length, 1);
  assert.equal((await shomei(["root", "status", "--store", store, "--server", env.server.url])).code, 0);
  const again = await shomei(["root", "install", "--store", store, "--server", env.server.url]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /already trusted/);
});

test("root install from --file (the operator's root.pem): right fingerprint trusts; a wrong one or a file without a root trusts nothing", async () => {
  const store = join(tempDir(), "store");
  const server = "https://ca.example.jp"; // not contacted: the file is the source
  const other = await makeTestCa();
  const wrong = await shomei(["root", "install", "--store", store, "--server", server, "--file", env.ca.rootPem, "--root-fingerprint", readCertificate(other.rootDer).fingerprint]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /\[ROOT_FINGERPRINT_MISMATCH\]/);
  assert.equal(existsSync(join(store, "roots")), false);

  const notRoot = join(tempDir(), "issuing.pem");
  writeFileSync(notRoot, toPem(other.issuingDer, "CERTIFICATE"));
  const noRoot = await shomei(["root", "install", "--store", store, "--server", server, "--file", notRoot, "--root-fingerprint", env.ca.rootFingerprint]);
  assert.equal(noRoot.code, 1);
  assert.match(noRoot.stderr, /\[ROOT_FILE_INVALID\]/);
  const missing = await shomei(["root", "install", "--store", store, "--server", server, "--file", join(tempDir(), "absent.pem")]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /\[ROOT_FILE_INVALID\]/);
  assert.equal(existsSync(join(store, "roots")), false);

  const ok = await shomei(["root", "install", "--store", store, "--server", server, "--file", env.ca.rootPem, "--root-fingerprint", env.ca.rootFingerprint]);
  assert.equal(ok.code, 0, ok.stderr);
  const status = await shomei(["root", "status", "--store", store]);
  assert.equal(status.code, 0);
  assert.ok(status.stdout.includes(env.ca.rootFingerprint));
  assert.ok(status.stdout.includes(`${server}: a root certificate is trusted`));
});

test("root install at a terminal: the security warning, then y trusts it", async (t) => {
  if (!(await needs(t, "python3"))) return;
  const store = join(tempDir(), "store");
  const r = await atTerminal(["root", "install", "--store", store, "--server", env.server.url], "y");
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Security warning/);
  assert.ok(r.out.indexOf(env.ca.rootFingerprint) < r.out.indexOf("[y/N]"), "fingerprint shown before the question");
  assert.equal((await shomei(["root", "status", "--store", store])).code, 0);
});

test("root remove: asks (refused without a terminal or --yes), says what stops working, then forgets the root; again is a no-op", async () => {
  const store = join(tempDir(), "store");
  const serial = await enroll("a0000607", store);
  const refused = await shomei(["root", "remove", "--store", store, "--server", env.server.url]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /\[CONFIRMATION_REQUIRED\]/);
  assert.equal((await shomei(["root", "status", "--store", store])).code, 0, "still trusted");

  const r = await shomei(["root", "remove", "--store", store, "--yes"]); // the one server the store trusts
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes(env.ca.rootFingerprint));
  assert.match(r.stdout, /login-check and renewal cannot check/);
  assert.match(r.stdout, /is no longer trusted/);
  assert.deepEqual(readdirSync(join(store, "roots")), []);
  const status = await shomei(["root", "status", "--store", store]);
  assert.equal(status.code, 1);
  assert.ok(status.stdout.includes(`${env.server.url}: no root certificate is trusted`));
  // The certificate and key stay.
  assert.ok(existsSync(join(certDir(store, "a0000607", serial), "key.pem")));

  const again = await shomei(["root", "remove", "--store", store, "--server", env.server.url, "--yes"]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /No root certificate is trusted for/);
});

test("help for prune and root (both languages, exit codes); usage mistakes exit 2", async () => {
  const main = await shomei(["--help"]);
  assert.match(main.stdout, /^ {2}prune /m);
  assert.match(main.stdout, /^ {2}root /m);
  assert.match((await shomei(["--help", "--lang", "ja"])).stdout, /^ {2}prune +古い証明書/m);
  for (const cmd of ["prune", "root"]) {
    const en = await shomei([cmd, "--help"]);
    assert.equal(en.code, 0);
    assert.match(en.stdout, new RegExp(`shomei ${cmd} `));
    assert.match(en.stdout, /Exit codes:/);
    assert.match(en.stdout, /Examples?:/);
    const ja = await shomei(["help", cmd, "--lang", "ja"]);
    assert.match(ja.stdout, /終了コード:/);
  }
  assert.equal((await shomei(["root"])).code, 2);
  assert.equal((await shomei(["root", "frobnicate"])).code, 2);
  assert.equal((await shomei(["root", "install", "--store", join(tempDir(), "s")])).code, 2, "--server is required");
  assert.equal((await shomei(["root", "status", "--file", "x.pem"])).code, 2);
  assert.equal((await shomei(["root", "install", "--server", "https://ca.example.jp", "--root-fingerprint", "AB:CD"])).code, 2);
  assert.equal((await shomei(["prune", "extra"])).code, 2);
});
