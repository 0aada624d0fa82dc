/**
 * The real `shomei` commands on an NSS database (`--store nss:DIR`) against the real service
 * in-process: enroll, list, renew (short-lived profile, as in renew.test.ts), prune, login-check
 * and root status, with `certutil -L` / `-K` showing what a user (and the browser) would see.
 * Then what a user meets when something is wrong: no database, no NSS tools, no permission.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { readCertificate } from "../../src/pki/certificate.js";
import { fromPemAll } from "../../src/pki/pem.js";
import { nssKeyId, parseCertList, parseKeyList } from "../../src/client/nss_store.js";
import { shomei } from "../helpers/run.js";
import { tempDir } from "../helpers/ca.js";
import { startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { testClock } from "../helpers/inprocess.js";
import { needs } from "../helpers/tools.js";

const USER = "a0000801";
const NICK = `${USER} (テスト株式会社)`;

function tool(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: "utf8" }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

async function newNssDb(): Promise<string> {
  const dir = join(tempDir(), "nssdb");
  mkdirSync(dir);
  const r = await tool("certutil", ["-N", "-d", `sql:${dir}`, "--empty-password"]);
  assert.equal(r.code, 0, r.stderr);
  return dir;
}

async function certutilL(dir: string): Promise<{ nickname: string; trust: string }[]> {
  const r = await tool("certutil", ["-L", "-d", `sql:${dir}`]);
  assert.equal(r.code, 0, r.stderr);
  return parseCertList(r.stdout);
}

async function certutilK(dir: string): Promise<{ ids: Set<string>; text: string }> {
  const r = await tool("certutil", ["-K", "-d", `sql:${dir}`, "-f", "/dev/null"]);
  return { ids: r.code === 0 ? parseKeyList(r.stdout) : new Set(), text: r.stdout };
}

async function userCerts(dir: string): Promise<Buffer[]> {
  const r = await tool("certutil", ["-L", "-d", `sql:${dir}`, "-n", NICK, "-a"]);
  return r.code === 0 ? fromPemAll(r.stdout, "CERTIFICATE") : [];
}

interface Row { serial: string; current: boolean; status: string; certPath: string; keyPath: string; server: string | null }

async function listJson(store: string): Promise<Row[]> {
  const r = await shomei(["list", "--json", "--store", store]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Row[];
}

describe("shomei with --store nss:DIR", () => {
  let env: PortalEnv;
  const clock = testClock();
  before(async () => {
    env = await startPortalEnv({ clock, initArgs: ["--client-validity-days", "10", "--renew-window-days", "30"] });
  });
  after(async () => { await env?.stop(); });

  test("enroll, list, renew, prune, login-check and root status; certutil shows what the user expects", async (t) => {
    if (!(await needs(t, "nss"))) return;
    clock.now = new Date();
    const dir = await newNssDb();
    const store = `nss:${dir}`;
    const email = `${USER}@example.jp`;
    await env.server.services.registration.addUser({ userId: USER, email, name: `利用者 ${USER}` }, "operator:test");
    const s = await env.secretsFor(email);
    assert.ok(s.passcode && s.password);

    // enroll: the root trusted for TLS servers, the certificate and key in NSS.
    const enrolled = await shomei(["enroll", "--server", env.server.url, "--user", USER, "--root-fingerprint", env.ca.rootFingerprint, "--passcode-stdin", "--store", store],
      { input: `${s.passcode}\n` });
    assert.equal(enrolled.code, 0, enrolled.stderr);
    const rootNick = `Shomei root ${env.ca.rootFingerprint.replace(/:/g, "").slice(0, 8)}`;
    assert.match(enrolled.stdout, new RegExp(`Stored the root certificate: nss:${dir} ${rootNick}`));
    assert.match(enrolled.stdout, new RegExp(`certificate nss:${dir} a0000801 \\(テスト株式会社\\) \\(serial [0-9a-f]+\\)`));
    // The browser reads this database: restarting it is the next step.
    assert.match(enrolled.stdout, /Next: restart the browser and log in/);
    let lines = await certutilL(dir);
    assert.deepEqual(lines.find((l) => l.nickname === rootNick), { nickname: rootNick, trust: "C,," });
    assert.deepEqual(lines.filter((l) => l.nickname === NICK).map((l) => l.trust), ["u,u,u"]);
    assert.equal(lines.length, 3, `root, issuing CA, user certificate: ${JSON.stringify(lines)}`);
    const [first] = await userCerts(dir);
    assert.ok(first);
    let keys = await certutilK(dir);
    assert.deepEqual([...keys.ids], [nssKeyId(first)]);
    assert.match(keys.text, new RegExp(`${nssKeyId(first)}\\s+${NICK.replace(/[()]/g, "\\$&")}`));
    assert.deepEqual(readdirSync(join(dir, "shomei", "pending")), [], "the pending key is gone once stored");
    assert.equal(statSync(join(dir, "shomei", "state.json")).mode & 0o777, 0o600);

    let rows = await listJson(store);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.current, true);
    assert.equal(rows[0]?.server, env.server.url);
    assert.equal(rows[0]?.certPath, `nss:${dir} ${NICK} (serial ${readCertificate(first).serialHex})`);
    const text = await shomei(["list", "--store", store]);
    assert.match(text.stdout, new RegExp(`Certificate store: nss:${dir}`));

    // renew a minute later (service clock): a second certificate with the same subject, so the same nickname.
    clock.now = new Date(Date.now() + 60_000);
    const renewed = await shomei(["renew", "--store", store]);
    assert.equal(renewed.code, 0, renewed.stderr);
    lines = await certutilL(dir);
    assert.deepEqual(lines.filter((l) => l.nickname === NICK).map((l) => l.trust), ["u,u,u", "u,u,u"]);
    const both = await userCerts(dir);
    assert.equal(both.length, 2);
    const second = both.find((d) => !d.equals(first));
    assert.ok(second);
    assert.deepEqual([...(await certutilK(dir)).ids].sort(), [nssKeyId(first), nssKeyId(second)].sort());
    rows = await listJson(store);
    assert.deepEqual(rows.map((r) => [r.serial, r.current, r.status]), [
      [readCertificate(second).serialHex, true, "expiring"],
      [readCertificate(first).serialHex, false, "superseded"],
    ]);

    // prune: the old one goes with its key; the new one stays, still with its key.
    const pruned = await shomei(["prune", "--yes", "--store", store]);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, new RegExp(`Removed.*${readCertificate(first).serialHex}`));
    lines = await certutilL(dir);
    assert.deepEqual(lines.filter((l) => l.nickname === NICK).map((l) => l.trust), ["u,u,u"]);
    assert.deepEqual((await userCerts(dir)).map((d) => readCertificate(d).serialHex), [readCertificate(second).serialHex]);
    keys = await certutilK(dir);
    assert.deepEqual([...keys.ids], [nssKeyId(second)]);
    assert.equal(lines.find((l) => l.nickname === rootNick)?.trust, "C,,", "the root keeps its trust");
    rows = await listJson(store);
    assert.deepEqual(rows.map((r) => r.serial), [readCertificate(second).serialHex]);

    // login-check with the certificate (and key) from NSS, checking the portal against the root in NSS.
    const login = await shomei(["login-check", "--server", env.url, "--store", store, "--password-stdin"], { input: `${s.password}\n` });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login works \(user ID a0000801\)\./);
    assert.match(login.stderr, new RegExp(`serial ${readCertificate(second).serialHex}`));

    const status = await shomei(["root", "status", "--store", store]);
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, new RegExp(`Certificate store: nss:${dir}`));
    assert.ok(status.stdout.includes(env.ca.rootFingerprint), status.stdout);
  });
});

describe("shomei with --store nss:DIR when something is wrong", () => {
  test("no database there: NSS_DB_MISSING with how to create one (exit 1)", async (t) => {
    if (!(await needs(t, "nss"))) return;
    const dir = join(tempDir(), "nssdb");
    const r = await shomei(["list", "--store", `nss:${dir}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[NSS_DB_MISSING\]/);
    assert.ok(r.stderr.includes(`certutil -N -d sql:${dir} --empty-password`), r.stderr);
  });

  test("no NSS tools (simulated: PATH without certutil and pk12util): NSS_TOOLS_MISSING naming the package (exit 1)", async (t) => {
    if (!(await needs(t, "nss"))) return;
    const dir = await newNssDb();
    const r = await shomei(["list", "--store", `nss:${dir}`], { env: { PATH: tempDir() } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /\[NSS_TOOLS_MISSING\]/);
    assert.match(r.stderr, /libnss3-tools/);
  });

  test("a database this user may not read: NSS_DB_UNREADABLE (exit 1)", async (t) => {
    if (!(await needs(t, "nss"))) return;
    const dir = await newNssDb();
    // As root the permission bits do not stop anything, so the command runs as "nobody" then.
    const asRoot = process.getuid?.() === 0;
    if (!asRoot) {
      const { chmodSync } = await import("node:fs");
      chmodSync(dir, 0o000);
    }
    const r = await shomei(["list", "--store", `nss:${dir}`], asRoot ? { uid: 65534, gid: 65534 } : {});
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /\[NSS_DB_UNREADABLE\]/);
    assert.match(r.stderr, /without sudo/);
  });
});
