/**
 * A backup imported on a PC that has never talked to the service: `shomei import FILE` without
 * --server. The certificate and key go in (file store and NSS), `list`, `export`, `doctor`,
 * `login-check` and `root status` work and say the server is unknown where it matters, and
 * `shomei renew` asks for the server at a terminal, refuses with RENEW_SERVER_UNKNOWN (ja/en,
 * with what to type) without one, and records the server once renewed. Renewal is open at once
 * (short-lived profile, as in renew.test.ts).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { shomei, SHOMEI } from "../helpers/run.js";
import { runAtTerminal } from "../helpers/pty.js";
import { tempDir } from "../helpers/ca.js";
import { startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { testClock } from "../helpers/inprocess.js";
import { needs } from "../helpers/tools.js";

const PASS = "Backup-Pass-2026!";

interface Row { userId: string; serial: string; current: boolean; server: string | null }

async function listJson(store: string): Promise<Row[]> {
  const r = await shomei(["list", "--json", "--store", store]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Row[];
}

let env: PortalEnv;
const clock = testClock();

before(async () => {
  clock.now = new Date();
  env = await startPortalEnv({ clock, initArgs: ["--client-validity-days", "10", "--renew-window-days", "30"] });
});
after(async () => { await env?.stop(); });

/** A user enrolled on "the old PC" and the backup made there. */
async function backupOf(userId: string): Promise<{ file: string; password: string }> {
  const { store, password } = await env.enrollWithCli(userId);
  const file = join(tempDir(), `${userId}.p12`);
  const r = await shomei(["export", "--out", file, "--password-stdin", "--store", store], { input: `${PASS}\n` });
  assert.equal(r.code, 0, r.stderr);
  return { file, password };
}

/** `shomei import FILE` into `store` with no --server, the root confirmed by its fingerprint. */
async function importWithoutServer(file: string, store: string): Promise<Awaited<ReturnType<typeof shomei>>> {
  return shomei(["import", file, "--password-stdin", "--root-fingerprint", env.ca.rootFingerprint, "--store", store], { input: `${PASS}\n` });
}

/** The service's clock a minute on, so a renewed certificate's whole-second dates differ from the old one's. */
function aMinuteLater(): void {
  clock.now = new Date(clock.now.getTime() + 60_000);
}

describe("shomei import without --server (file store)", () => {
  test("imported into a fresh store; list, root status, export, login-check and doctor work and say the server is unknown", async () => {
    const { file, password } = await backupOf("a0000951");
    const store = join(tempDir(), "new-pc");
    const r = await importWithoutServer(file, store);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Imported: certificate/);
    assert.match(r.stdout, /The root certificate is now trusted \(the server is not known yet\)/);
    assert.match(r.stderr, /The server this certificate renews with is not recorded yet: shomei renew asks for it/);
    assert.doesNotMatch(r.stderr, /IMPORT_SERVER_REQUIRED|holds no root certificate/);

    const rows = await listJson(store);
    assert.deepEqual(rows.map((x) => [x.userId, x.current, x.server]), [["a0000951", true, null]]);
    const text = await shomei(["list", "--store", store]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /\* +a0000951 /);
    assert.match(text.stdout, /User ID a0000951: server unknown \(imported without --server\)\. shomei renew asks for it/);
    const ja = await shomei(["list", "--store", store, "--lang", "ja"]);
    assert.match(ja.stdout, /ユーザID a0000951 の証明書は、更新に使うサーバーが不明です/);

    const roots = await shomei(["root", "status", "--store", store]);
    assert.equal(roots.code, 0, roots.stdout + roots.stderr);
    assert.match(roots.stdout, /server unknown: a root certificate trusted when a backup was imported/);
    assert.ok(roots.stdout.includes(env.ca.rootFingerprint), roots.stdout);

    const again = join(tempDir(), "again.p12");
    const exported = await shomei(["export", "--out", again, "--password-stdin", "--store", store], { input: `${PASS}\n` });
    assert.equal(exported.code, 0, exported.stderr);

    // The portal is checked against the root confirmed at the import.
    const login = await shomei(["login-check", "--server", env.url, "--store", store, "--password-stdin"], { input: `${password}\n` });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login works \(user ID a0000951\)/);

    const doctor = await shomei(["doctor", "--store", store]);
    assert.notEqual(doctor.code, 3, doctor.stderr);
    assert.match(doctor.stdout, /the server it renews with is unknown \(imported without --server\)/);
    assert.match(doctor.stdout, /shomei renew --server https:\/\//);
    const doctorJa = await shomei(["doctor", "--store", store, "--lang", "ja"]);
    assert.match(doctorJa.stdout, /更新に使うサーバーが不明です/);
  });

  test("renew without a terminal: RENEW_SERVER_UNKNOWN saying what to type (en and ja); with --server it renews and records the server", async () => {
    const { file } = await backupOf("a0000952");
    const store = join(tempDir(), "new-pc");
    assert.equal((await importWithoutServer(file, store)).code, 0);

    const refused = await shomei(["renew", "--store", store]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /\[RENEW_SERVER_UNKNOWN\]/);
    assert.match(refused.stderr, /Which server renews the certificate of user ID a0000952 is not known/);
    assert.match(refused.stderr, /shomei renew --server https:\/\//);
    const refusedJa = await shomei(["renew", "--store", store, "--lang", "ja"]);
    assert.equal(refusedJa.code, 2);
    assert.match(refusedJa.stderr, /ユーザID a0000952 の証明書をどのサーバーで更新するかが分かりません/);
    assert.equal((await listJson(store)).length, 1, "nothing renewed");

    aMinuteLater();
    const renewed = await shomei(["renew", "--server", env.server.url, "--store", store]);
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.match(renewed.stdout, /Stored the new certificate/);
    const rows = await listJson(store);
    assert.equal(rows.length, 2);
    assert.deepEqual(rows.filter((x) => x.current).map((x) => x.server), [env.server.url], "the server is recorded");
    const text = await shomei(["list", "--store", store]);
    assert.doesNotMatch(text.stdout, /server unknown/);
    // Now the root belongs to the server, and the next renewal needs no --server.
    const roots = await shomei(["root", "status", "--store", store]);
    assert.match(roots.stdout, new RegExp(`${env.server.url.replace(/[.]/g, "\\.")}: a root certificate is trusted`));
    assert.doesNotMatch(roots.stdout, /server unknown/);
    aMinuteLater();
    const next = await shomei(["renew", "--store", store]);
    assert.equal(next.code, 0, next.stderr);
  });

  test("renew at a terminal asks for the server (again after something that is not an https:// address) and renews", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const { file } = await backupOf("a0000953");
    const store = join(tempDir(), "new-pc");
    assert.equal((await importWithoutServer(file, store)).code, 0);
    aMinuteLater();
    const r = await runAtTerminal([process.execPath, SHOMEI, "renew", "--store", store], {
      answers: [{ when: "Server address (https://…): ", send: "http://ca.example.jp" }, { when: "must begin with https://", send: env.server.url }],
      env: { LANG: "en_US.UTF-8" },
    });
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /does not record which server renews the certificate of user ID a0000953/);
    assert.match(r.output, /The server's address is in the passcode e-mail/);
    assert.match(r.output, /must begin with https:\/\//, "a URL that is not https:// is refused and asked again");
    assert.match(r.output, /Stored the new certificate/);
    const servers = JSON.parse(readFileSync(join(store, "servers.json"), "utf8")) as { users: Record<string, { server: string }> };
    assert.equal(servers.users.a0000953?.server, env.server.url);
    assert.deepEqual((await listJson(store)).filter((x) => x.current).map((x) => x.server), [env.server.url]);
  });
});

describe("shomei import without --server (NSS store)", () => {
  test("imported into a new NSS database; list says server unknown; renew refuses without a terminal, then renews with --server and records it", async (t) => {
    if (!(await needs(t, "nss"))) return;
    const { file } = await backupOf("a0000954");
    const dir = join(tempDir(), "nssdb");
    mkdirSync(dir);
    const created = await new Promise<number>((resolve) => {
      execFile("certutil", ["-N", "-d", `sql:${dir}`, "--empty-password"], (error) => resolve(error ? 1 : 0));
    });
    assert.equal(created, 0);
    const store = `nss:${dir}`;
    const r = await importWithoutServer(file, store);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Imported: certificate/);
    assert.match(r.stderr, /not recorded yet: shomei renew asks for it/);
    assert.deepEqual((await listJson(store)).map((x) => [x.userId, x.server]), [["a0000954", null]]);
    const text = await shomei(["list", "--store", store]);
    assert.match(text.stdout, /User ID a0000954: server unknown/);
    const doctor = await shomei(["doctor", "--store", store]);
    assert.notEqual(doctor.code, 3, doctor.stderr);
    assert.match(doctor.stdout, /the server it renews with is unknown/);

    const refused = await shomei(["renew", "--store", store]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /\[RENEW_SERVER_UNKNOWN\]/);

    aMinuteLater();
    const renewed = await shomei(["renew", "--server", env.server.url, "--store", store]);
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.deepEqual((await listJson(store)).filter((x) => x.current).map((x) => x.server), [env.server.url]);
    const roots = await shomei(["root", "status", "--store", store]);
    assert.equal(roots.code, 0, roots.stdout);
    assert.doesNotMatch(roots.stdout, /server unknown/);
  });
});
