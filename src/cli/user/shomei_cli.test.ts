/**
 * The `shomei` command as a user runs it: the built dist/src/cli/shomei.js in a child process,
 * enrolling at the real Shomei service (one CA for the file, started in this process; see
 * test/helpers/client_real_server.ts) with passcodes from the real registration e-mail.
 */
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readCertificate } from "../../pki/certificate.js";
import { makeTestCa } from "../../../test/helpers/client_pki.js";
import { startRealEstServer, type RealEstServer } from "../../../test/helpers/client_real_server.js";
import { needs } from "../../../test/helpers/tools.js";

const CLI = fileURLToPath(new URL("../shomei.js", import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs shomei asynchronously (the EST server lives in this process), stdin not a terminal. */
function shomei(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => { stdout += d.toString("utf8"); });
    child.stderr.on("data", (d: Buffer) => { stderr += d.toString("utf8"); });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? "");
  });
}

let srv: RealEstServer;
before(async () => { srv = await startRealEstServer(); });
after(async () => { await srv?.stop(); });
beforeEach(() => { srv.reset(); });

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "shomei-cli-"));
}

test("--help, help <command>, --version; Japanese by default, English with --lang en or an English locale", async () => {
  const pkg = JSON.parse(await readFile(new URL("../../../../package.json", import.meta.url), "utf8")) as { version: string };
  const help = await shomei(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /使い方: shomei <コマンド>/);
  assert.match(help.stdout, /終了コード/);
  const en = await shomei(["--lang", "en", "--help"]);
  assert.match(en.stdout, /Usage: shomei <command>/);
  assert.match((await shomei(["--help"], { env: { LANG: "en_US.UTF-8" } })).stdout, /Usage: shomei/);
  const enroll = await shomei(["help", "enroll", "--lang", "en"]);
  assert.equal(enroll.code, 0);
  assert.match(enroll.stdout, /--passcode-stdin/);
  assert.match(enroll.stdout, /Exit codes/);
  assert.match((await shomei(["list", "--help"])).stdout, /shomei list --json/);
  const version = await shomei(["--version"]);
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), `shomei ${pkg.version}`);
});

test("bad invocations exit 2 with the reason and the remedy", async () => {
  const none = await shomei([]);
  assert.equal(none.code, 2);
  const unknown = await shomei(["frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /\[USAGE\].*frobnicate/);
  assert.match(unknown.stderr, /対処: /);
  assert.equal((await shomei(["help", "frobnicate"])).code, 2);
  const noServer = await shomei(["enroll", "--user", "a0000001"]);
  assert.equal(noServer.code, 2);
  assert.match(noServer.stderr, /INPUT_REQUIRED.*--server/);
  assert.equal((await shomei(["enroll", "--server", "http://ca.example.jp", "--user", "a0000001"])).code, 2);
  assert.equal((await shomei(["enroll", "--server", "https://ca.example.jp", "--user", "../etc"])).code, 2);
  assert.equal((await shomei(["enroll", "--server", "https://ca.example.jp", "--user", "a0000001", "--key", "dsa"])).code, 2);
  assert.equal((await shomei(["enroll", "--server", "https://ca.example.jp", "--user", "a0000001", "--root-fingerprint", "AB:CD"])).code, 2);
  assert.equal((await shomei(["list", "--bogus"])).code, 2);
});

test("list on an empty store says so and how to enroll; --json gives []", async () => {
  const store = join(await tempDir(), "store");
  const text = await shomei(["list", "--store", store]);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /証明書はありません/);
  assert.match(text.stdout, /shomei enroll --server URL --user/);
  const json = await shomei(["list", "--store", store, "--json"]);
  assert.equal(json.code, 0);
  assert.deepEqual(JSON.parse(json.stdout), []);
});

test("enroll with --passcode-stdin and --root-fingerprint, then list shows it as current", async (t) => {
  if (!(await needs(t, "python3"))) return;
  const [passcode, second] = await Promise.all([srv.addUser("a0000301"), srv.addUser("a0000302")]);
  const store = join(await tempDir(), "store");
  const fp = srv.rootFingerprint;

  const r = await shomei(
    ["enroll", "--server", srv.estUrl, "--user", "a0000301", "--passcode-stdin", "--root-fingerprint", fp, "--store", store, "--lang", "en"],
    { input: `${passcode.toLowerCase()}\n` },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(fp));
  assert.match(r.stdout, /Stored the certificate for user ID a0000301/);
  assert.match(r.stdout, /Next: /);
  const [serial] = await readdir(join(store, "certs", "a0000301"));
  assert.ok(serial);
  assert.ok(r.stdout.includes(join(store, "certs", "a0000301", serial, "key.pem")));
  assert.match(srv.requests.at(-1)?.headers["user-agent"] ?? "", /^shomei\/\d/);
  assert.deepEqual((await srv.issued("a0000301")).map((c) => readCertificate(c).serialHex), [serial]);

  const json = await shomei(["list", "--store", store, "--json"]);
  const rows = JSON.parse(json.stdout) as { userId: string; serial: string; status: string; current: boolean; fingerprint: string; notAfter: string }[];
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.userId, "a0000301");
  assert.equal(rows[0]?.serial, serial);
  assert.equal(rows[0]?.status, "valid");
  assert.equal(rows[0]?.current, true);
  assert.ok(!Number.isNaN(Date.parse(rows[0]?.notAfter ?? "")));
  const text = await shomei(["list", "--store", store]);
  assert.match(text.stdout, new RegExp(`^\\*\\s+a0000301\\s+${serial}\\s.*有効$`, "m"));

  // a second user at the same server: the root is already trusted, no fingerprint needed
  const next = await shomei(["enroll", "--server", srv.url, "--user", "a0000302", "--passcode-stdin", "--store", store], { input: second });
  assert.equal(next.code, 0, next.stderr);
  assert.match(next.stderr, /信頼済み/);
});

test("enroll with no terminal and no fingerprint stops (exit 1) after showing the fingerprint; a wrong fingerprint stores nothing", async (t) => {
  if (!(await needs(t, "python3"))) return;
  const passcode = await srv.addUser("a0000303");
  const store = join(await tempDir(), "store");
  const r = await shomei(["enroll", "--server", srv.url, "--user", "a0000303", "--passcode-stdin", "--store", store], { input: passcode });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ROOT_NOT_CONFIRMED/);
  assert.ok(r.stderr.includes(srv.rootFingerprint));

  const other = await makeTestCa(); // only its root's fingerprint is used
  const m = await shomei(
    ["enroll", "--server", srv.url, "--user", "a0000303", "--passcode-stdin", "--root-fingerprint", readCertificate(other.rootDer).fingerprint, "--store", store],
    { input: passcode },
  );
  assert.equal(m.code, 1);
  assert.match(m.stderr, /ROOT_FINGERPRINT_MISMATCH/);
  await assert.rejects(readdir(store));
  assert.equal(srv.enrollRequests().length, 0);
  assert.deepEqual(await srv.passcode("a0000303"), { status: "active", failedAttempts: 0 });
});

test("a wrong passcode exits 1 with the catalog message, the tries left and the remedy", async (t) => {
  if (!(await needs(t, "python3"))) return;
  await srv.addUser("a0000304");
  const store = join(await tempDir(), "store");
  const r = await shomei(
    ["enroll", "--server", srv.url, "--user", "a0000304", "--passcode-stdin", "--root-fingerprint", srv.rootFingerprint, "--store", store],
    { input: "ABCD-EFGH-JKMN-PQRS" },
  );
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[PASSCODE_WRONG\].*あと 4 回/);
  assert.match(r.stderr, /対処: .*パスコード/);
});
