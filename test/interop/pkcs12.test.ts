/**
 * PKCS#12 against programs nobody here wrote: what we export is read by OpenSSL, NSS
 * (pk12util, certutil) and Python's cryptography; what `openssl pkcs12 -export` (default and
 * -legacy) and `pk12util -o` write is read by us. The password is
 * Japanese throughout, and the exports use the default iteration counts.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, createHash } from "node:crypto";
import { writeFileSync, readFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { decodePkcs12, encodePkcs12, DEFAULT_ITERATIONS, type Pkcs12Contents, type Pkcs12Profile } from "../../src/pki/pkcs12.js";
import { spkiDer, exportPrivateKeyPem, type KeyPair } from "../../src/pki/keys.js";
import { fromPem, fromPemAll, toPem } from "../../src/pki/pem.js";
import { twoClients } from "../helpers/client_pki.js";
import { tempDir } from "../helpers/ca.js";
import { needs, PY_DEBIAN } from "../helpers/tools.js";
import { run } from "../helpers/run.js";

const PASSWORD = "証明書のパスワード2025";
const NAME = "a0000001 の証明書";

const { ecKey, rsaKey, ecCert, rsaCert, chain } = await twoClients();
const work = tempDir("shomei-p12-");
after(() => rmSync(work, { recursive: true, force: true }));
const sha1 = (b: Uint8Array): Buffer => createHash("sha1").update(b).digest();

/** Each profile with its own key kind: modern with EC P-256, compatible (old Windows) with RSA. */
const CASES = {
  modern: { key: ecKey, leaf: ecCert },
  compatible: { key: rsaKey, leaf: rsaCert },
} as const satisfies Record<Pkcs12Profile, { key: KeyPair; leaf: Buffer }>;

const exported = new Map<Pkcs12Profile, string>();
/** Our export with the default iteration count, written once per profile. */
function ourFile(profile: Pkcs12Profile): string {
  let file = exported.get(profile);
  if (!file) {
    const { key, leaf } = CASES[profile];
    file = join(work, `ours-${profile}.p12`);
    writeFileSync(file, encodePkcs12({ privateKey: key.privateKey, certificate: leaf, chain, password: PASSWORD, profile, friendlyName: NAME }));
    exported.set(profile, file);
  }
  return file;
}

/** A fresh, empty NSS database. */
async function nssDb(name: string): Promise<string> {
  const dir = join(work, name);
  mkdirSync(dir);
  const r = await run("certutil", ["-N", "-d", `sql:${dir}`, "--empty-password"]);
  assert.equal(r.code, 0, r.stderr);
  return `sql:${dir}`;
}

function assertDecoded(c: Pkcs12Contents, key: KeyPair, leaf: Buffer, friendlyName: string | undefined): void {
  assert.ok(c.privateKey, "a key");
  assert.deepEqual(spkiDer(c.privateKey), spkiDer(key.publicKey));
  const ders = c.certificates.map((b) => b.der.toString("hex")).sort();
  assert.deepEqual(ders, [leaf, ...chain].map((d) => d.toString("hex")).sort());
  const leafBag = c.certificates.find((b) => b.der.equals(leaf));
  assert.ok(leafBag?.localKeyId, "the leaf carries a localKeyId");
  assert.deepEqual(leafBag.localKeyId, c.keyLocalKeyId, "…the same as the key's");
  assert.equal(leafBag.friendlyName, friendlyName);
  assert.equal(c.keyFriendlyName, friendlyName);
}

for (const profile of ["modern", "compatible"] as const) {
  const { key, leaf } = CASES[profile];
  const iterations = DEFAULT_ITERATIONS[profile];

  test(`${profile}: openssl pkcs12 reads our export (no -legacy needed) and prints our key and certificates`, async (t) => {
    if (!(await needs(t, "openssl"))) return;
    const file = ourFile(profile);
    const info = await run("openssl", ["pkcs12", "-in", file, "-passin", `pass:${PASSWORD}`, "-info", "-noout"]);
    assert.equal(info.code, 0, info.stderr);
    const shown = info.stdout + info.stderr;
    if (profile === "modern") {
      assert.match(shown, new RegExp(`MAC: sha256, Iteration ${iterations}`));
      assert.match(shown, new RegExp(`Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration ${iterations}, PRF hmacWithSHA256`));
      assert.match(shown, new RegExp(`PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration ${iterations}, PRF hmacWithSHA256`));
    } else {
      assert.match(shown, new RegExp(`MAC: sha1, Iteration ${iterations}`));
      assert.match(shown, new RegExp(`Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration ${iterations}`));
      assert.match(shown, new RegExp(`PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration ${iterations}`));
    }

    const out = await run("openssl", ["pkcs12", "-in", file, "-passin", `pass:${PASSWORD}`, "-nodes"]);
    assert.equal(out.code, 0, out.stderr);
    const printedKey = createPrivateKey(toPem(fromPem(out.stdout, "PRIVATE KEY"), "PRIVATE KEY"));
    assert.deepEqual(spkiDer(printedKey), spkiDer(key.publicKey));
    assert.deepEqual(fromPemAll(out.stdout, "CERTIFICATE").map((d) => d.toString("hex")), [leaf, ...chain].map((d) => d.toString("hex")));
    // OpenSSL 3.0 prints only the low byte of each BMPString character here ("の" as "n"),
    // so only the ASCII part is compared; NSS and Python below read the whole name.
    assert.match(out.stdout, /friendlyName: a0000001 /);
    assert.match(out.stdout, new RegExp(`localKeyID: ${[...sha1(leaf)].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(" ")}`));

    const wrong = await run("openssl", ["pkcs12", "-in", file, "-passin", "pass:wrong", "-nodes"]);
    assert.notEqual(wrong.code, 0);
  });

  test(`${profile}: pk12util imports our export; certutil lists the certificate and its key`, async (t) => {
    if (!(await needs(t, "nss"))) return;
    const db = await nssDb(`nss-import-${profile}`);
    const imp = await run("pk12util", ["-i", ourFile(profile), "-d", db, "-W", PASSWORD]);
    assert.equal(imp.code, 0, imp.stdout + imp.stderr);
    assert.match(imp.stdout, /PKCS12 IMPORT SUCCESSFUL/);

    const list = await run("certutil", ["-L", "-d", db]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`${NAME}\\s+u,u,u`), "the leaf, with its key (u)");
    const pem = await run("certutil", ["-L", "-d", db, "-n", NAME, "-a"]);
    assert.equal(pem.code, 0, pem.stderr);
    assert.deepEqual(fromPem(pem.stdout, "CERTIFICATE"), leaf);

    const keys = await run("certutil", ["-K", "-d", db], { input: "" });
    assert.equal(keys.code, 0, keys.stderr);
    assert.match(keys.stdout, new RegExp(`<\\s*0>\\s+${profile === "modern" ? "ec" : "rsa"}\\s+[0-9a-f]{40}\\s+${NAME}`));
  });

  test(`${profile}: Python cryptography loads our export with the same key and certificates`, async (t) => {
    if (!(await needs(t, "pyCryptography"))) return;
    const script = [
      "import sys, json",
      "from cryptography.hazmat.primitives.serialization import pkcs12, Encoding, PublicFormat",
      "a = json.load(sys.stdin)",
      "data = open(a['file'], 'rb').read()",
      "key, cert, extra = pkcs12.load_key_and_certificates(data, a['password'].encode('utf-8'))",
      "p = pkcs12.load_pkcs12(data, a['password'].encode('utf-8'))",
      "print(json.dumps({",
      "  'spki': key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo).hex(),",
      "  'cert': cert.public_bytes(Encoding.DER).hex(),",
      "  'extra': [c.public_bytes(Encoding.DER).hex() for c in extra],",
      "  'name': p.cert.friendly_name.decode('utf-8') if p.cert.friendly_name else None,",
      "}))",
    ].join("\n");
    const r = await run(PY_DEBIAN, ["-c", script], { input: JSON.stringify({ file: ourFile(profile), password: PASSWORD }) });
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout) as { spki: string; cert: string; extra: string[]; name: string | null };
    assert.equal(got.spki, spkiDer(key.publicKey).toString("hex"));
    assert.equal(got.cert, leaf.toString("hex"));
    assert.deepEqual(got.extra, chain.map((d) => d.toString("hex")));
    assert.equal(got.name, NAME);

    const wrong = await run(PY_DEBIAN, ["-c", script], { input: JSON.stringify({ file: ourFile(profile), password: "wrong" }) });
    assert.notEqual(wrong.code, 0);
  });
}

/** Key, leaf and chain as PEM files for openssl. */
function pemFiles(name: string, key: KeyPair, leaf: Buffer): { key: string; cert: string; chain: string } {
  const files = { key: join(work, `${name}-key.pem`), cert: join(work, `${name}-cert.pem`), chain: join(work, `${name}-chain.pem`) };
  writeFileSync(files.key, exportPrivateKeyPem(key.privateKey));
  writeFileSync(files.cert, toPem(leaf, "CERTIFICATE"));
  writeFileSync(files.chain, chain.map((d) => toPem(d, "CERTIFICATE")).join(""));
  return files;
}

test("openssl pkcs12 -export (OpenSSL 3 default) decodes: PBES2 / AES-256 / PBKDF2-SHA256, SHA-256 MAC", async (t) => {
  if (!(await needs(t, "openssl"))) return;
  const f = pemFiles("openssl-default", ecKey, ecCert);
  const out = join(work, "openssl-default.p12");
  const r = await run("openssl", ["pkcs12", "-export", "-in", f.cert, "-inkey", f.key, "-certfile", f.chain, "-name", NAME, "-passout", `pass:${PASSWORD}`, "-out", out]);
  assert.equal(r.code, 0, r.stderr);
  const c = decodePkcs12(readFileSync(out), PASSWORD);
  assertDecoded(c, ecKey, ecCert, NAME);
  assert.deepEqual(c.algorithms, ["PBES2/AES-256-CBC/PBKDF2-SHA256"]);
  assert.equal(c.macAlgorithm, "HMAC-SHA256");
  assert.throws(() => decodePkcs12(readFileSync(out), "証明書のパスワード２０２５"), { code: "PKCS12_PASSWORD_WRONG" });
});

test("openssl pkcs12 -export -legacy decodes: certificates in PBE-SHA1-RC2-40, key in PBE-SHA1-3DES, SHA-1 MAC", async (t) => {
  if (!(await needs(t, "openssl"))) return;
  const f = pemFiles("openssl-legacy", rsaKey, rsaCert);
  const out = join(work, "openssl-legacy.p12");
  const r = await run("openssl", ["pkcs12", "-export", "-legacy", "-in", f.cert, "-inkey", f.key, "-certfile", f.chain, "-name", NAME, "-passout", `pass:${PASSWORD}`, "-out", out]);
  assert.equal(r.code, 0, r.stderr);
  const c = decodePkcs12(readFileSync(out), PASSWORD);
  assertDecoded(c, rsaKey, rsaCert, NAME);
  assert.deepEqual(c.algorithms, ["PBE-SHA1-RC2-40", "PBE-SHA1-3DES"]);
  assert.equal(c.macAlgorithm, "HMAC-SHA1");
  assert.throws(() => decodePkcs12(readFileSync(out), "wrong"), { code: "PKCS12_PASSWORD_WRONG" });
});

test("pk12util -o decodes: BER, AES-256 key, AES-128 certificates, SHA-256 MAC, 600000 iterations", { timeout: 120_000 }, async (t) => {
  if (!(await needs(t, "nss", "openssl"))) return;
  // Into NSS from OpenSSL's file (so NSS's export owes nothing to ours), then out again.
  const f = pemFiles("nss", ecKey, ecCert);
  const fromOpenssl = join(work, "nss-in.p12");
  const r = await run("openssl", ["pkcs12", "-export", "-in", f.cert, "-inkey", f.key, "-certfile", f.chain, "-name", NAME, "-passout", `pass:${PASSWORD}`, "-out", fromOpenssl]);
  assert.equal(r.code, 0, r.stderr);
  const db = await nssDb("nss-export");
  const imp = await run("pk12util", ["-i", fromOpenssl, "-d", db, "-W", PASSWORD]);
  assert.equal(imp.code, 0, imp.stdout + imp.stderr);

  const out = join(work, "nss-default.p12");
  const exp = await run("pk12util", ["-o", out, "-n", NAME, "-d", db, "-W", PASSWORD]);
  assert.equal(exp.code, 0, exp.stdout + exp.stderr);
  const bytes = readFileSync(out);
  assert.deepEqual([...bytes.subarray(0, 2)], [0x30, 0x80], "NSS writes BER with indefinite lengths");
  const c = decodePkcs12(bytes, PASSWORD);
  assertDecoded(c, ecKey, ecCert, NAME);
  assert.deepEqual(c.algorithms, ["PBES2/AES-256-CBC/PBKDF2-SHA256", "PBES2/AES-128-CBC/PBKDF2-SHA256"]);
  assert.equal(c.macAlgorithm, "HMAC-SHA256");
  assert.throws(() => decodePkcs12(bytes, "wrong"), { code: "PKCS12_PASSWORD_WRONG" });
});
