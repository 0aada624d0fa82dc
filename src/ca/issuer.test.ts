/** Client certificates' subjectAltName in each configured mode, read back by OpenSSL; the subject stays the same. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { makeTestCa, type TestCa } from "../../test/helpers/client_pki.js";
import { needs } from "../../test/helpers/tools.js";
import { run } from "../../test/helpers/run.js";
import { buildCsr, parseCsr } from "../pki/csr.js";
import { generateKeyPair, keyObjectSigner } from "../pki/keys.js";
import { toPem } from "../pki/pem.js";
import { Issuer, type ClientAltNamePolicy, type ClientIdentity } from "./issuer.js";

let ca: Promise<TestCa> | undefined;

/** `openssl x509 -text` of a client certificate for `who`, issued under `policy` (undefined: the default). */
async function issuedText(policy: ClientAltNamePolicy | undefined, who: ClientIdentity): Promise<string> {
  const c = await (ca ??= makeTestCa());
  const issuer = new Issuer({
    issuingCertDer: c.issuingDer, signer: keyObjectSigner(c.issuingKey.privateKey), urls: {}, clientValidityDays: 30,
    ...(policy ? { altName: policy } : {}),
  });
  const key = await generateKeyPair();
  const csr = parseCsr(await buildCsr({ publicKey: key.publicKey, signer: keyObjectSigner(key.privateKey), commonName: who.userId }));
  const cert = await issuer.issueClient(csr, who, new Date(), "hash");
  const r = await run("openssl", ["x509", "-noout", "-text", "-nameopt", "RFC2253"], { input: toPem(cert.der, "CERTIFICATE") });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

const WHO: ClientIdentity = { userId: "a0000001", organization: "Shomei Test", email: "taro.yamada@example.jp" };

/** The Subject Alternative Name lines of `openssl x509 -text`, or undefined when there is none. */
function sanOf(text: string): string | undefined {
  const m = /X509v3 Subject Alternative Name:[^\n]*\n\s*([^\n]+)/.exec(text);
  return m?.[1]?.trim();
}

test("by default a client certificate names the user's e-mail as rfc822Name, and the subject stays O, CN = user ID", async (t) => {
  if (!(await needs(t, "openssl"))) return;
  const text = await issuedText(undefined, WHO);
  assert.equal(sanOf(text), "email:taro.yamada@example.jp");
  assert.match(text, /Subject: CN=a0000001,O=Shomei Test/);
  assert.deepEqual(await issuedText({ mode: "email" }, WHO).then(sanOf), "email:taro.yamada@example.jp");
});

test("subjectAltName none issues no SAN at all", async (t) => {
  if (!(await needs(t, "openssl"))) return;
  const text = await issuedText({ mode: "none" }, WHO);
  assert.equal(sanOf(text), undefined);
  assert.doesNotMatch(text, /Subject Alternative Name/);
});

test("subjectAltName upn names a Windows UPN: USERID@upnDomain when set, else the e-mail", async (t) => {
  if (!(await needs(t, "openssl"))) return;
  assert.equal(sanOf(await issuedText({ mode: "upn", upnDomain: "corp.example" }, WHO)), "othername: UPN::a0000001@corp.example");
  assert.equal(sanOf(await issuedText({ mode: "upn" }, WHO)), "othername: UPN::taro.yamada@example.jp");
  // OpenSSL prints a UPN as "UPN::value". A UTF8String: a non-ASCII e-mail is a valid UPN.
  assert.equal(sanOf(await issuedText({ mode: "upn" }, { ...WHO, email: "山田@例え.jp" })), "othername: UPN::山田@例え.jp");
});

test("an e-mail that is not ASCII cannot be an rfc822Name: the certificate is issued without a SAN", async (t) => {
  if (!(await needs(t, "openssl"))) return;
  const text = await issuedText(undefined, { ...WHO, email: "山田@example.jp" });
  assert.equal(sanOf(text), undefined);
  assert.match(text, /Subject: CN=a0000001,O=Shomei Test/);
});
