/**
 * A standard EST client made of tools nobody here wrote: openssl makes the key and CSR, curl
 * posts it to simpleenroll, openssl decodes the PKCS#7 reply and verifies the chain.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFileSync, readFileSync } from "node:fs";
import { addUser, initCa, serve, tempDir } from "../helpers/ca.js";
import { needs } from "../helpers/tools.js";
import { run } from "../helpers/run.js";

test("openssl + curl enroll through EST; the passcode works once", { timeout: 120_000 }, async (t) => {
  if (!(await needs(t, "openssl", "curl", "python3"))) return;
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const srv = await serve(ca.dir);
  t.after(() => srv.stop());
  const { passcode } = await addUser(ca.dir, "a0000101");
  const work = tempDir();

  // cacerts: base64 PKCS#7 that openssl reads, holding the root and the issuing CA.
  const cacerts = await run("curl", ["-sS", "--fail", "--cacert", ca.rootPem, "-D", join(work, "h1"), "-o", join(work, "cacerts.b64"), `${srv.estUrl}/cacerts`]);
  assert.equal(cacerts.code, 0, cacerts.stderr);
  assert.match(readFileSync(join(work, "h1"), "utf8"), /content-type: application\/pkcs7-mime/i);
  assert.match(readFileSync(join(work, "h1"), "utf8"), /content-transfer-encoding: base64/i);
  const p7 = await run("sh", ["-c", `openssl base64 -d -in ${join(work, "cacerts.b64")} | openssl pkcs7 -inform DER -print_certs`]);
  assert.equal(p7.code, 0, p7.stderr);
  assert.equal((p7.stdout.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length, 2);
  assert.match(p7.stdout, /Root CA/);
  assert.match(p7.stdout, /Issuing CA/);

  // Key and CSR by openssl; the CSR asks for another name, which the CA must ignore.
  const key = join(work, "key.pem");
  assert.equal((await run("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key])).code, 0);
  const csr = await run("openssl", ["req", "-new", "-key", key, "-subj", "/CN=a9999999/O=Someone Else", "-outform", "DER", "-out", join(work, "req.der")]);
  assert.equal(csr.code, 0, csr.stderr);
  writeFileSync(join(work, "req.b64"), readFileSync(join(work, "req.der")).toString("base64"));

  const post = (out: string): Promise<{ code: number | null; stdout: string; stderr: string }> => run("curl", [
    "-sS", "--cacert", ca.rootPem, "-u", `a0000101:${passcode}`, "-H", "Content-Type: application/pkcs10",
    "--data-binary", `@${join(work, "req.b64")}`, "-o", out, "-w", "%{http_code}", `${srv.estUrl}/simpleenroll`,
  ]);
  const first = await post(join(work, "resp.b64"));
  assert.equal(first.stdout, "200", readFileSync(join(work, "resp.b64"), "utf8"));

  const certPem = join(work, "cert.pem");
  const dec = await run("sh", ["-c", `openssl base64 -d -in ${join(work, "resp.b64")} | openssl pkcs7 -inform DER -print_certs -out ${certPem}`]);
  assert.equal(dec.code, 0, dec.stderr);
  const text = await run("openssl", ["x509", "-in", certPem, "-noout", "-subject", "-ext", "extendedKeyUsage,keyUsage,basicConstraints", "-nameopt", "RFC2253,-esc_msb"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /subject=CN=a0000101,O=テスト株式会社/);
  assert.doesNotMatch(text.stdout, /a9999999|Someone Else/);
  assert.match(text.stdout, /TLS Web Client Authentication/);
  assert.match(text.stdout, /Digital Signature/);
  assert.match(text.stdout, /CA:FALSE/);

  const verify = await run("openssl", ["verify", "-CAfile", ca.rootPem, "-untrusted", ca.issuingPem, "-purpose", "sslclient", certPem]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  // The certificate carries the key openssl made.
  const pubCert = await run("openssl", ["x509", "-in", certPem, "-noout", "-pubkey"]);
  const pubKey = await run("openssl", ["pkey", "-in", key, "-pubout"]);
  assert.equal(pubCert.stdout, pubKey.stdout);

  // A new CSR with the same passcode: refused with 401.
  const csr2 = await run("openssl", ["req", "-new", "-key", key, "-subj", "/CN=a0000101/serialNumber=2", "-outform", "DER", "-out", join(work, "req.der")]);
  assert.equal(csr2.code, 0);
  writeFileSync(join(work, "req.b64"), readFileSync(join(work, "req.der")).toString("base64"));
  const second = await post(join(work, "resp2.txt"));
  assert.equal(second.stdout, "401");
  assert.match(readFileSync(join(work, "resp2.txt"), "utf8"), /PASSCODE_REJECTED/);
});
