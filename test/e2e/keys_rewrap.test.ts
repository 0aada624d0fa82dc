/**
 * `shomei-ca keys status|rewrap` on a real data folder: keys in the wrapping older versions wrote
 * (Node's export: PBKDF2, 2,048 iterations) make serve warn and are rewrapped to scrypt, to the
 * same keys, mode 0600, atomically, and audited; a second run changes nothing; a wrong passphrase
 * changes nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createPrivateKey } from "node:crypto";
import { initCa, serve } from "../helpers/ca.js";
import { shomeiCa } from "../helpers/run.js";
import { openStore } from "../../src/store/open.js";

const NAMES = ["root", "issuing", "tls"] as const;

test("keys written by older versions: serve warns, keys rewrap rewraps them to the same keys, a second run leaves them alone", { timeout: 240_000 }, async (t) => {
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const file = (n: string): string => join(ca.dir, "private", `${n}.key.pem`);
  const pass = readFileSync(join(ca.dir, "secrets", "ca-passphrase"), "utf8").trim();
  const pkcs8 = (pem: string, passphrase = pass): Buffer => createPrivateKey({ key: pem, format: "pem", passphrase }).export({ format: "der", type: "pkcs8" });

  // A new CA's keys are already at the new wrapping.
  const fresh = await shomeiCa(["keys", "status", "--data", ca.dir]);
  assert.equal(fresh.code, 0, fresh.stderr);
  for (const n of NAMES) assert.match(fresh.stdout, new RegExp(`^${n}: scrypt N=2\\^14 r=8 p=5, aes-256-cbc \\(`, "m"));
  assert.doesNotMatch(fresh.stdout, /old wrapping/);

  // The same keys as an older shomei-ca init wrote them.
  const keys = new Map<string, Buffer>();
  for (const n of NAMES) {
    const key = createPrivateKey({ key: readFileSync(file(n), "utf8"), format: "pem", passphrase: pass });
    keys.set(n, key.export({ format: "der", type: "pkcs8" }));
    writeFileSync(file(n), key.export({ format: "pem", type: "pkcs8", cipher: "aes-256-cbc", passphrase: pass }), { mode: 0o600 });
  }
  const old = await shomeiCa(["keys", "status", "--data", ca.dir]);
  for (const n of NAMES) assert.match(old.stdout, new RegExp(`^${n}: PBKDF2 hmacWithSHA256 2,048 iterations, aes-256-cbc — old wrapping`, "m"));

  // They still open: serve starts with them, and says what to run.
  const srv = await serve(ca.dir);
  await srv.stop();
  assert.match(srv.output(), /Warning: the private keys root, issuing, tls use the old wrapping \(PBKDF2 hmacWithSHA256 2,048 iterations, aes-256-cbc\)\. Rewrap them with: shomei-ca keys rewrap --data /);

  // A wrong passphrase: a coded error, and no file touched.
  const before = NAMES.map((n) => readFileSync(file(n)));
  const wrong = await shomeiCa(["keys", "rewrap", "--data", ca.dir], { env: { SHOMEI_CA_PASSPHRASE: "not the passphrase" } });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /\[CA_KEY_LOCKED\]/);
  NAMES.forEach((n, i) => assert.deepEqual(readFileSync(file(n)), before[i]));

  const r = await shomeiCa(["keys", "rewrap", "--data", ca.dir]);
  assert.equal(r.code, 0, r.stderr);
  for (const n of NAMES) {
    assert.match(r.stdout, new RegExp(`^${n}: rewrapped: PBKDF2 hmacWithSHA256 2,048 iterations, aes-256-cbc → scrypt N=2\\^14 r=8 p=5, aes-256-cbc \\(`, "m"));
    const pem = readFileSync(file(n), "utf8");
    assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    assert.deepEqual(pkcs8(pem), keys.get(n), `${n}: not the same key after rewrap`);
    assert.equal(statSync(file(n)).mode & 0o777, 0o600);
  }
  assert.match(r.stdout, /^Rewrapped 3 keys\.$/m);
  assert.deepEqual(readdirSync(join(ca.dir, "private")).sort(), ["issuing.key.pem", "root.key.pem", "tls.key.pem"], "temporary files left behind");
  const store = await openStore(`sqlite:${join(ca.dir, "shomei.db")}`);
  try {
    const audited = await store.queryAudit({ event: "ca.keys.rewrap" });
    assert.equal(audited.length, 1, JSON.stringify(audited));
    assert.equal(audited[0]?.detail?.keys, "root,issuing,tls");
    assert.match(audited[0]?.actor ?? "", /^operator:/);
  } finally {
    await store.close();
  }

  // Idempotent: nothing left to do, the files stay byte for byte.
  const after = NAMES.map((n) => readFileSync(file(n)));
  const again = await shomeiCa(["keys", "rewrap", "--data", ca.dir]);
  assert.equal(again.code, 0, again.stderr);
  for (const n of NAMES) assert.match(again.stdout, new RegExp(`^${n}: already at the new wrapping, left alone: scrypt N=2\\^14 r=8 p=5, aes-256-cbc`, "m"));
  assert.match(again.stdout, /^Rewrapped 0 keys\.$/m);
  NAMES.forEach((n, i) => assert.deepEqual(readFileSync(file(n)), after[i]));
  const store2 = await openStore(`sqlite:${join(ca.dir, "shomei.db")}`);
  try {
    assert.equal((await store2.queryAudit({ event: "ca.keys.rewrap" })).length, 1, "a run that changed nothing is not audited");
  } finally {
    await store2.close();
  }
});

test("keys rewrap with the root key kept offline rewraps the others and says the root was skipped", { timeout: 240_000 }, async (t) => {
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const file = (n: string): string => join(ca.dir, "private", `${n}.key.pem`);
  const pass = readFileSync(join(ca.dir, "secrets", "ca-passphrase"), "utf8").trim();
  const issuing = createPrivateKey({ key: readFileSync(file("issuing"), "utf8"), format: "pem", passphrase: pass });
  writeFileSync(file("issuing"), issuing.export({ format: "pem", type: "pkcs8", cipher: "aes-256-cbc", passphrase: pass }), { mode: 0o600 });
  renameSync(file("root"), join(ca.dir, "root.key.pem.offline"));

  const r = await shomeiCa(["keys", "rewrap", "--data", ca.dir, "--lang", "ja"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^root: ファイルがないため飛ばしました/m);
  assert.match(r.stdout, /^issuing: 暗号化し直しました: PBKDF2/m);
  assert.match(r.stdout, /^tls: すでに新しい方式のため変更しません/m);
  assert.match(r.stdout, /^1 個の鍵を暗号化し直しました。$/m);
});

test("shomei-ca keys: --help answers 0, no subcommand 2, an unknown one USAGE (2)", async () => {
  const help = await shomeiCa(["keys", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /shomei-ca keys rewrap \[--data DIR\]/);
  assert.match((await shomeiCa(["help", "keys"])).stdout, /shomei-ca keys status/);
  assert.equal((await shomeiCa(["keys"])).code, 2);
  const bad = await shomeiCa(["keys", "shred"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /\[USAGE\]/);
});
