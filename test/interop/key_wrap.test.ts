/**
 * CA keys at rest, read by tools nobody here wrote: what wrapPrivateKey writes opens with
 * `openssl pkey -passin` and with Node's createPrivateKey, keys in the old wrapping (Node's
 * export: PBKDF2, 2,048 iterations) still open, and wrappingOf tells the wrappings apart,
 * including ones openssl wrote.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateKeyPair, spkiDer } from "../../src/pki/keys.js";
import { describeWrapping, isStrongWrapping, unwrapPrivateKey, unwrapPrivateKeyAsync, wrapPrivateKey, wrappingOf } from "../../src/pki/key_wrap.js";
import { tempDir } from "../helpers/ca.js";
import { run } from "../helpers/run.js";
import { needs } from "../helpers/tools.js";

const PASS = "correct horse battery staple — 証明";

test("a key wrapped with scrypt opens with openssl pkey and with Node's createPrivateKey, and only with the passphrase", { timeout: 120_000 }, async (t) => {
  if (!(await needs(t, "openssl"))) return;
  const work = tempDir();
  t.after(() => rmSync(work, { recursive: true, force: true }));
  for (const kind of ["ec-p256", "rsa-2048"] as const) {
    const pair = await generateKeyPair(kind);
    const pem = await wrapPrivateKey(pair.privateKey, PASS);
    assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    const file = join(work, `${kind}.pem`);
    writeFileSync(file, pem, { mode: 0o600 });

    // openssl decrypts it to the same key: its public half is the one we generated.
    const pub = await run("openssl", ["pkey", "-in", file, "-passin", `pass:${PASS}`, "-pubout", "-outform", "DER", "-out", join(work, `${kind}.spki`)]);
    assert.equal(pub.code, 0, pub.stderr);
    assert.deepEqual(readFileSync(join(work, `${kind}.spki`)), spkiDer(pair.publicKey));
    const wrong = await run("openssl", ["pkey", "-in", file, "-passin", "pass:not the passphrase", "-noout"]);
    assert.notEqual(wrong.code, 0, "openssl opened the key with a wrong passphrase");

    // Node reads it with the passphrase alone (no code of ours), to the same PKCS#8.
    const node = createPrivateKey({ key: pem, format: "pem", passphrase: PASS });
    assert.deepEqual(node.export({ format: "der", type: "pkcs8" }), pair.privateKey.export({ format: "der", type: "pkcs8" }));
    assert.throws(() => createPrivateKey({ key: pem, format: "pem", passphrase: "not the passphrase" }));

    const w = wrappingOf(pem);
    assert.deepEqual(w, { kind: "scrypt", N: 16384, r: 8, p: 5, cipher: "aes-256-cbc" });
    assert.equal(isStrongWrapping(w), true);
  }
});

test("keys in the old wrapping (PBKDF2, 2,048 iterations) still open, and count as weak", async () => {
  const pair = await generateKeyPair("ec-p384");
  const old = pair.privateKey.export({ format: "pem", type: "pkcs8", cipher: "aes-256-cbc", passphrase: PASS }) as string;
  const w = wrappingOf(old);
  assert.deepEqual(w, { kind: "pbkdf2", iterations: 2048, prf: "hmacWithSHA256", cipher: "aes-256-cbc" });
  assert.equal(isStrongWrapping(w), false);
  assert.equal(describeWrapping(w), "PBKDF2 hmacWithSHA256 2,048 iterations, aes-256-cbc");
  assert.deepEqual(createPublicKey(unwrapPrivateKey(old, PASS)).export({ format: "der", type: "spki" }), spkiDer(pair.publicKey));
  // An unencrypted key is not wrapped at all.
  assert.equal(isStrongWrapping(wrappingOf(pair.privateKey.export({ format: "pem", type: "pkcs8" }) as string)), false);
});

test("wrappingOf reads what openssl writes: its default scrypt is weaker than ours, PBKDF2-SHA256 at 600,000 iterations is strong", { timeout: 120_000 }, async (t) => {
  if (!(await needs(t, "openssl"))) return;
  const work = tempDir();
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const plain = join(work, "plain.pem");
  assert.equal((await run("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", plain])).code, 0);
  const wrap = async (name: string, extra: string[]): Promise<string> => {
    const out = join(work, name);
    const r = await run("openssl", ["pkcs8", "-topk8", "-in", plain, "-out", out, "-passout", `pass:${PASS}`, "-v2", "aes-256-cbc", ...extra]);
    assert.equal(r.code, 0, r.stderr);
    return readFileSync(out, "utf8");
  };
  const scrypt = wrappingOf(await wrap("scrypt.pem", ["-scrypt"]));
  assert.equal(scrypt.kind, "scrypt");
  assert.equal(isStrongWrapping(scrypt), false, describeWrapping(scrypt));
  const pbkdf2 = await wrap("pbkdf2.pem", ["-v2prf", "hmacWithSHA256", "-iter", "600000"]);
  assert.deepEqual(wrappingOf(pbkdf2), { kind: "pbkdf2", iterations: 600_000, prf: "hmacWithSHA256", cipher: "aes-256-cbc" });
  assert.equal(isStrongWrapping(wrappingOf(pbkdf2)), true);
  const low = wrappingOf(await wrap("low.pem", ["-v2prf", "hmacWithSHA256", "-iter", "599999"]));
  assert.equal(isStrongWrapping(low), false);
});

test("unwrapPrivateKeyAsync (serve's unwrap off the main thread) gives the same key as the synchronous unwrap, for ours, Node's old export and what openssl writes; a wrong passphrase fails", { timeout: 120_000 }, async (t) => {
  const pair = await generateKeyPair("ec-p256");
  const pkcs8 = (k: KeyObject): Buffer => k.export({ format: "der", type: "pkcs8" });
  const pems: [string, string][] = [
    ["scrypt (ours)", await wrapPrivateKey(pair.privateKey, PASS)],
    ["PBKDF2 (Node's export)", pair.privateKey.export({ format: "pem", type: "pkcs8", cipher: "aes-256-cbc", passphrase: PASS }) as string],
    ["not encrypted", pair.privateKey.export({ format: "pem", type: "pkcs8" }) as string],
  ];
  if (await needs(t, "openssl")) {
    const work = tempDir();
    t.after(() => rmSync(work, { recursive: true, force: true }));
    const plain = join(work, "plain.pem");
    writeFileSync(plain, pems[2]?.[1] ?? "", { mode: 0o600 });
    for (const [name, extra] of [["openssl scrypt", ["-scrypt"]], ["openssl PBKDF2-SHA512 aes-128", ["-v2prf", "hmacWithSHA512", "-iter", "1000"]], ["openssl PBKDF2-SHA1", ["-v2prf", "hmacWithSHA1", "-iter", "1000"]]] as const) {
      const out = join(work, `${name.replace(/\W/g, "_")}.pem`);
      const cipher = name.includes("aes-128") ? "aes-128-cbc" : "aes-256-cbc";
      const r = await run("openssl", ["pkcs8", "-topk8", "-in", plain, "-out", out, "-passout", `pass:${PASS}`, "-v2", cipher, ...extra]);
      assert.equal(r.code, 0, r.stderr);
      pems.push([name, readFileSync(out, "utf8")]);
    }
  }
  for (const [name, pem] of pems) {
    assert.deepEqual(pkcs8(await unwrapPrivateKeyAsync(pem, PASS)), pkcs8(unwrapPrivateKey(pem, PASS)), name);
    assert.deepEqual(pkcs8(await unwrapPrivateKeyAsync(pem, PASS)), pkcs8(pair.privateKey), name);
    if (name !== "not encrypted") await assert.rejects(unwrapPrivateKeyAsync(pem, "not the passphrase"), name);
  }
});
