/** The operator's commands as an operator runs them: init, user add/list/show, passcode reissue. */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync, existsSync, readdirSync, mkdirSync, writeFileSync, cpSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { initCa, readOutbox, tempDir, type TestCa } from "../helpers/ca.js";
import { needs, PG_URL } from "../helpers/tools.js";
import { spawn } from "node:child_process";
import { run, shomeiCa, SHOMEI_CA } from "../helpers/run.js";
import { formatTime } from "../../src/i18n/format.js";

const PASSCODE_LINE = /^パスコード: ([ABCDEFGHJKMNPQRSTUVWXYZ23456789]{4}(?:-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{4}){3})$/m;

describe("shomei-ca", { timeout: 180_000 }, () => {
  let ca: TestCa;
  before(async () => { ca = await initCa(); });
  after(() => ca.cleanup());

  test("init prints the root fingerprint exactly as openssl computes it, and keeps keys encrypted and private", async (t) => {
    if (!(await needs(t, "openssl"))) return;
    const o = await run("openssl", ["x509", "-in", ca.rootPem, "-noout", "-fingerprint", "-sha256"]);
    assert.equal(o.stdout.trim().split("=")[1], ca.rootFingerprint);
    for (const f of ["root.key.pem", "issuing.key.pem", "tls.key.pem"]) {
      const p = join(ca.dir, "private", f);
      assert.equal(statSync(p).mode & 0o777, 0o600, f);
      assert.match(readFileSync(p, "utf8"), /BEGIN ENCRYPTED PRIVATE KEY/);
    }
    assert.equal(statSync(join(ca.dir, "shomei.db")).mode & 0o777, 0o600);
    assert.equal(statSync(join(ca.dir, "secrets", "hmac.key")).mode & 0o777, 0o600);
    // openssl opens the root key with the passphrase from the secrets folder.
    const key = await run("openssl", ["pkey", "-in", join(ca.dir, "private", "root.key.pem"), "-passin", `file:${join(ca.dir, "secrets", "ca-passphrase")}`, "-noout"]);
    assert.equal(key.code, 0, key.stderr);
    // Chain: root -> issuing CA -> TLS certificate for the host names given.
    const tls = join(ca.dir, "tls", "server.pem");
    const v = await run("openssl", ["verify", "-CAfile", ca.rootPem, "-untrusted", ca.issuingPem, "-purpose", "sslserver", tls]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const san = await run("openssl", ["x509", "-in", tls, "-noout", "-ext", "subjectAltName"]);
    assert.match(san.stdout, /DNS:localhost, IP Address:127\.0\.0\.1/);
    const caExt = await run("openssl", ["x509", "-in", ca.issuingPem, "-noout", "-ext", "basicConstraints,keyUsage"]);
    assert.match(caExt.stdout, /CA:TRUE, pathlen:0/);
    assert.match(caExt.stdout, /Certificate Sign, CRL Sign/);
  });

  test("a second init on the same folder is refused and changes nothing", async () => {
    const before = readFileSync(join(ca.dir, "private", "root.key.pem"));
    const r = await shomeiCa(["init", "--data", ca.dir, "--org", "Other", "--hostname", "example.com"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[CA_EXISTS\]/);
    assert.match(r.stderr, /What to do: /);
    assert.deepEqual(readFileSync(join(ca.dir, "private", "root.key.pem")), before);
  });

  test("an interrupted init (keys but no config) is named as such by init and serve, with what to do", async () => {
    const dir = join(tempDir(), "half");
    mkdirSync(join(dir, "private"), { recursive: true });
    writeFileSync(join(dir, "private", "root.key.pem"), "partial");
    for (const args of [["init", "--data", dir, "--org", "O", "--hostname", "localhost"], ["serve", "--data", dir, "--port", "0"], ["start", "--port", "0"]]) {
      const r = await shomeiCa(args, { env: { SHOMEI_DATA: dir } });
      assert.equal(r.code, 1, args[0]);
      assert.match(r.stderr, /\[CA_INCOMPLETE\]/, args[0]);
      assert.match(r.stderr, /Move this folder aside or delete it/);
    }
    assert.equal(readFileSync(join(dir, "private", "root.key.pem"), "utf8"), "partial");
  });

  test("serve with the wrong key passphrase or a broken config says which, and what to do", async () => {
    const locked = await shomeiCa(["serve", "--data", ca.dir, "--port", "0"], { env: { SHOMEI_CA_PASSPHRASE: "not the passphrase" } });
    assert.equal(locked.code, 1);
    assert.match(locked.stderr, /\[CA_KEY_LOCKED\]/);
    assert.match(locked.stderr, /SHOMEI_CA_PASSPHRASE/);

    const copy = join(tempDir(), "copy");
    cpSync(ca.dir, copy, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(copy, "shomei.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(copy, "shomei.json"), JSON.stringify({ ...cfg, passcode: { lifetimeDays: "forty" } }));
    const broken = await shomeiCa(["user", "list", "--data", copy]);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /\[CONFIG_INVALID\].*lifetimeDays/);
  });

  test("init refuses a bad host name before creating anything", async () => {
    const dir = join(tempDir(), "x");
    const r = await shomeiCa(["init", "--data", dir, "--org", "Org", "--hostname", "bad host!"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\[FIELD_INVALID\]/);
    assert.equal(existsSync(dir), false);
  });

  test("user add sends two Japanese e-mails: the passcode, and the initial password valid for 40 days", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const r = await shomeiCa(["user", "add", "a0000001", "--email", "taro@example.jp", "--name", "山田 太郎", "--data", ca.dir]);
    assert.equal(r.code, 0, r.stderr);
    // Times in the configured zone (Asia/Tokyo by default) in the one format the client uses too.
    assert.match(r.stdout, /passcode expires: \d{4}-\d\d-\d\d \d\d:\d\d JST/i);
    const mails = (await readOutbox(ca.dir)).filter((m) => m.to === "taro@example.jp");
    assert.equal(mails.length, 2);
    const pc = mails.find((m) => PASSCODE_LINE.test(m.body));
    const pw = mails.find((m) => /^初期パスワード: \S{12,}$/m.test(m.body));
    assert.ok(pc, "passcode mail");
    assert.ok(pw, "initial password mail");
    assert.notEqual(pc, pw);
    assert.equal(pc.subject, "【Shomei】クライアント証明書取得用パスコードのお知らせ");
    assert.match(pc.contentType, /text\/plain; charset=utf-8/);
    assert.match(pc.body, /^ユーザID: a0000001$/m);
    // The mails show times as the CLI does: the service's zone, named.
    assert.match(pc.body, /^パスコードの有効期限: \d{4}-\d\d-\d\d \d\d:\d\d JST$/m);
    assert.ok(pc.body.includes(ca.rootFingerprint), "root fingerprint in the passcode mail");
    assert.match(pc.body, /shomei enroll --server https:\/\/localhost:8443 --user a0000001/);
    assert.match(pc.body, /helpdesk@example\.jp/);
    assert.doesNotMatch(pc.body, /初期パスワード: /);
    assert.doesNotMatch(pw.body, /^パスコード: /m);
    // 40 days after sending, in Japan time.
    const sent = new Date(pw.date);
    const expiry = new Date(sent.getTime() + 40 * 86_400_000);
    const day = formatTime(expiry, "Asia/Tokyo").slice(0, 10);
    assert.match(pw.body, new RegExp(`^初期パスワードの有効期限: ${day} \\d\\d:\\d\\d JST（送信日から 40 日以内）$`, "m"), pw.body);
  });

  test("user add --lang en sends English e-mails with the same lines in English", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const r = await shomeiCa(["user", "add", "a0000002", "--email", "jane@example.com", "--name", "Jane Doe", "--lang", "en", "--data", ca.dir], { env: { LANG: "ja_JP.UTF-8" } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /利用者 a0000002 を登録しました/, "the operator still reads their own language");
    const mails = (await readOutbox(ca.dir)).filter((m) => m.to === "jane@example.com");
    assert.equal(mails.length, 2);
    assert.ok(mails.some((m) => /^Passcode: [A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/m.test(m.body)));
    assert.ok(mails.some((m) => /^Initial password: \S{12,}$/m.test(m.body)));
    assert.ok(mails.some((m) => m.subject === "[Shomei] Your passcode to obtain a client certificate"));
  });

  test("nothing secret is stored in clear: not the passcode, not the initial password", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const mails = (await readOutbox(ca.dir)).filter((m) => m.to === "taro@example.jp");
    const passcode = mails.map((m) => PASSCODE_LINE.exec(m.body)?.[1]).find(Boolean) ?? "";
    const password = mails.map((m) => /^初期パスワード: (\S+)$/m.exec(m.body)?.[1]).find(Boolean) ?? "";
    assert.ok(passcode && password);
    const files = ["shomei.db", "shomei.db-wal"].map((f) => join(ca.dir, f)).filter(existsSync);
    for (const f of files) {
      const bytes = readFileSync(f);
      for (const secret of [passcode, passcode.replace(/-/g, ""), password]) assert.equal(bytes.includes(Buffer.from(secret)), false, `${secret} in ${f}`);
    }
    const show = await shomeiCa(["user", "show", "a0000001", "--json", "--data", ca.dir]);
    assert.equal(show.code, 0);
    assert.doesNotMatch(show.stdout, /argon2|passwordHash/);
    const u = JSON.parse(show.stdout) as { passwordInitial: boolean; passcode: { status: string } };
    assert.equal(u.passwordInitial, true);
    assert.equal(u.passcode.status, "active");
  });

  test("bad registrations are refused with their code and leave the user list as it was", async () => {
    const list = async (): Promise<string> => (await shomeiCa(["user", "list", "--json", "--data", ca.dir])).stdout;
    const before = await list();
    const cases: [string[], number, string][] = [
      [["a0000003", "--email", "not-an-address", "--name", "X"], 2, "EMAIL_INVALID"],
      [["b0000003", "--email", "x@example.jp", "--name", "X"], 2, "USER_ID_INVALID"],
      [["a000003", "--email", "x@example.jp", "--name", "X"], 2, "USER_ID_INVALID"],
      [["a0000001", "--email", "x@example.jp", "--name", "X"], 1, "USER_EXISTS"],
      [["a0000003", "--email", "x@example.jp"], 2, "INPUT_REQUIRED"],
      [["a0000003", "--email", "x@example.jp", "--name", "X".repeat(101)], 2, "FIELD_INVALID"],
      [["a0000003", "--email", "x@example.jp", "--name", "X", "--lang", "fr"], 2, "FIELD_INVALID"],
    ];
    for (const [args, code, errorCode] of cases) {
      const r = await shomeiCa(["user", "add", ...args, "--data", ca.dir]);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`\\[${errorCode}\\]`), args.join(" "));
    }
    assert.equal(await list(), before);
  });

  test("passcode reissue for an unknown user is USER_NOT_FOUND, in Japanese by default", async () => {
    const r = await shomeiCa(["passcode", "reissue", "a0404040", "--data", ca.dir], { env: { LANG: "ja_JP.UTF-8" } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /エラー \[USER_NOT_FOUND\]: ユーザID「a0404040」は登録されていません。/);
    assert.match(r.stderr, /対処: /);
  });

  test("passcode reissue mails a new passcode and records it in the audit log", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const count = (await readOutbox(ca.dir)).length;
    const r = await shomeiCa(["passcode", "reissue", "a0000001", "--data", ca.dir]);
    assert.equal(r.code, 0, r.stderr);
    const mails = await readOutbox(ca.dir);
    assert.equal(mails.length, count + 1);
    const show = JSON.parse((await shomeiCa(["user", "show", "a0000001", "--json", "--data", ca.dir])).stdout) as { passcode: { status: string; failedAttempts: number } };
    assert.equal(show.passcode.status, "active");
  });

  test("user list shows registered users; an unknown command says how to get help", async () => {
    const r = await shomeiCa(["user", "list", "--data", ca.dir]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^a0000001\tactive\tuser\ttaro@example\.jp\t山田 太郎\tテスト株式会社$/m);
    const bad = await shomeiCa(["frobnicate"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /\[USAGE\]/);
    assert.match(bad.stderr, /--help/);
  });

  test("commands on a folder without a CA say how to create one", async () => {
    const r = await shomeiCa(["user", "list", "--data", join(tempDir(), "none")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[CA_NOT_INITIALISED\]/);
    assert.match(r.stderr, /shomei-ca init --data/);
  });

  test("start creates a CA on first run, prints the endpoint and the next steps, and reuses it later", async () => {
    const data = join(tempDir(), "start");
    const once = async (): Promise<string> => {
      const child = spawn(process.execPath, [SHOMEI_CA, "start", "--port", "0"], { env: { ...process.env, SHOMEI_DATA: data, LANG: "en_US.UTF-8" } });
      let out = "";
      child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
      child.stderr.on("data", (d: Buffer) => { out += d.toString(); });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(out)), 30_000);
        child.stdout.on("data", () => {
          if (/shomei-ca user add/.test(out)) { clearTimeout(timer); resolve(); }
        });
      });
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      return out;
    };
    const first = await once();
    assert.match(first, /No CA in .* creating one/);
    assert.match(first, /^EST: https:\/\/127\.0\.0\.1:\d+\/\.well-known\/est$/m);
    assert.match(first, /^Portal: https:\/\/127\.0\.0\.1:\d+\/$/m);
    assert.match(first, /Registered the first operator, a0000000/);
    assert.match(first, /shomei-ca user add a0000001 --email/);
    const fp = /Root CA fingerprint \(SHA-256\): (\S+)/.exec(first)?.[1];
    assert.ok(fp);
    const second = await once();
    assert.doesNotMatch(second, /creating one/);
    assert.ok(second.includes(`--root-fingerprint ${fp}`));
  });

  test("a CA on PostgreSQL: init with --db, then register users into it", async (t) => {
    if (!(await needs(t, "postgres", "python3"))) return;
    const schema = `shomei_cli_${randomBytes(5).toString("hex")}`;
    const pgCa = await initCa(["--db", `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${schema}`]);
    t.after(async () => {
      pgCa.cleanup();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`drop schema if exists ${schema} cascade`);
      await c.end();
    });
    assert.equal(existsSync(join(pgCa.dir, "shomei.db")), false, "no SQLite file when PostgreSQL is configured");
    const r = await shomeiCa(["user", "add", "a0000001", "--email", "pg@example.jp", "--name", "PG", "--data", pgCa.dir]);
    assert.equal(r.code, 0, r.stderr);
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    const rows = await c.query<{ user_id: string; role: string }>(`select user_id, role from ${schema}.users order by user_id`);
    const audit = await c.query<{ event: string; user_id: string | null }>(`select event, user_id from ${schema}.audit_log order by id`);
    await c.end();
    // init registered the first operator (a0000000); then the user.
    assert.deepEqual(rows.rows.map((x) => [x.user_id, x.role]), [["a0000000", "operator"], ["a0000001", "user"]]);
    assert.deepEqual(audit.rows.map((x) => x.event).slice(0, 4), ["ca.init", "user.register", "passcode.issue", "password.initial"]);
    assert.deepEqual(audit.rows.filter((x) => x.user_id === "a0000001").map((x) => x.event).slice(0, 3), ["user.register", "passcode.issue", "password.initial"]);
    assert.equal(readdirSync(join(pgCa.dir, "outbox")).length, 4, "two mails for the operator, two for the user");
  });
});
