/** The PKI core on its own: serials, fingerprints, CSRs, profiles, PKCS#7, base64. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { x509 } from "./x509lib.js";
import { randomSerial, serialHex } from "./serial.js";
import { fingerprint, normaliseFingerprint } from "./fingerprint.js";
import { generateKeyPair, keyObjectSigner, keyKindOf, spkiDer } from "./keys.js";
import { buildCsr, parseCsr } from "./csr.js";
import { buildName } from "./names.js";
import { clientExtensions, keyIdentifier } from "./profiles.js";
import { readCertificate, signCertificate } from "./certificate.js";
import { certsOnly, readCertsOnly } from "./pkcs7.js";
import { decodeBase64Strict, fromPem, toPem } from "./pem.js";
import { verifyChain } from "./chain.js";
import { createHierarchy } from "../ca/hierarchy.js";
import { isShomeiError } from "../i18n/errors.js";

const code = (c: string) => (e: unknown): boolean => isShomeiError(e) && e.code === c;

test("serials are positive, 16 bytes, minimally encoded and unique", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const s = randomSerial();
    assert.equal(s.length, 16);
    assert.ok((s[0] ?? 0) >= 0x40 && (s[0] ?? 0) <= 0x7f);
    seen.add(serialHex(s));
  }
  assert.equal(seen.size, 2000);
  // Fixed randomness gives a fixed serial (for known-answer tests).
  assert.equal(serialHex(randomSerial(() => new Uint8Array(16).fill(0xff))), "7f" + "ff".repeat(15));
});

test("fingerprints are AB:CD:… and what users paste is normalised or refused", () => {
  assert.equal(fingerprint(Buffer.from("abc")), "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD");
  const fp = fingerprint(Buffer.from("x"));
  assert.equal(normaliseFingerprint(fp.toLowerCase()), fp);
  assert.equal(normaliseFingerprint(fp.replace(/:/g, " ")), fp);
  assert.equal(normaliseFingerprint(fp.replace(/:/g, "")), fp);
  assert.throws(() => normaliseFingerprint("AB:CD"), code("FINGERPRINT_INVALID"));
  assert.throws(() => normaliseFingerprint(fp.replace(/.$/, "G")), code("FINGERPRINT_INVALID"));
});

test("CSRs: built and parsed for every key kind; tampering and weak keys are refused", async () => {
  for (const kind of ["ec-p256", "ec-p384", "rsa-2048"] as const) {
    const k = await generateKeyPair(kind);
    const der = await buildCsr({ publicKey: k.publicKey, signer: keyObjectSigner(k.privateKey), commonName: "a0000001" });
    const p = parseCsr(der);
    assert.equal(p.keyKind, kind);
    assert.equal(p.requestedSubject, "CN=a0000001");
    assert.deepEqual(p.spki, spkiDer(k.publicKey));
    // The library nobody here wrote agrees the signature is good.
    assert.equal(await new x509.Pkcs10CertificateRequest(der).verify(), true);
    const tampered = Buffer.from(der);
    tampered[tampered.length - 70] = (tampered[tampered.length - 70] ?? 0) ^ 0x01;
    assert.throws(() => parseCsr(tampered), (e) => isShomeiError(e) && ["CSR_SIGNATURE_INVALID", "BAD_DER"].includes(e.code));
  }
  assert.throws(() => parseCsr(Buffer.from("not der")), code("BAD_DER"));
  assert.throws(() => parseCsr(Buffer.alloc(0)), code("BAD_DER"));
  // Keys are re-imported from DER: reading asymmetricKeyDetails on a key straight from
  // generateKeyPairSync can deadlock Node 20 (seen in the benchmark; see bench/fixtures.ts).
  const pub = (k: KeyObject): KeyObject => createPublicKey({ key: k.export({ type: "spki", format: "der" }), format: "der", type: "spki" });
  assert.throws(() => keyKindOf(pub(generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey)), code("KEY_TOO_SMALL"));
  assert.throws(() => keyKindOf(pub(generateKeyPairSync("ed25519").publicKey)), code("KEY_UNSUPPORTED"));
  assert.throws(() => keyKindOf(pub(generateKeyPairSync("ec", { namedCurve: "secp256k1" }).publicKey)), code("KEY_UNSUPPORTED"));
});

test("client profile: fixed key, serial and dates give the certificate the issue specifies", async () => {
  const now = new Date("2026-04-01T09:00:00Z");
  const [root, issuing, tls, user, rsaUser] = await Promise.all([
    generateKeyPair(), generateKeyPair(), generateKeyPair(), generateKeyPair(), generateKeyPair("rsa-2048"),
  ]);
  const urls = { caIssuersUrl: "http://ca.example.jp/issuing.crt", ocspUrl: "http://ca.example.jp/ocsp", crlUrl: "http://ca.example.jp/issuing.crl" };
  const h = await createHierarchy({ organization: "例", hostnames: ["ca.example.jp"], now, rootKey: root, issuingKey: issuing, tlsKey: tls, urls });
  const issuingInfo = readCertificate(h.issuingDer);
  const issue = async (k: typeof user): Promise<InstanceType<typeof x509.X509Certificate>> => {
    const spki = spkiDer(k.publicKey);
    const der = await signCertificate({
      serial: randomSerial(() => new Uint8Array(16).fill(0x11)),
      subject: buildName({ organization: "例", commonName: "a0000001" }),
      issuer: buildName({ organization: "例", commonName: "例 Issuing CA 1" }),
      notBefore: now, notAfter: new Date("2027-04-01T09:00:00Z"), spki,
      extensions: clientExtensions({ spki, keyKind: k.kind, issuerKeyId: keyIdentifier(spkiDer(issuing.publicKey)), urls }),
    }, keyObjectSigner(issuing.privateKey));
    const chain = await verifyChain(der, [h.issuingDer], h.rootDer, new Date("2026-05-01T00:00:00Z"));
    assert.equal(chain.ok, true, chain.problem);
    assert.equal((await verifyChain(der, [h.issuingDer], h.rootDer, new Date("2027-05-01T00:00:00Z"))).problem, "expired");
    return new x509.X509Certificate(der);
  };
  const c = await issue(user);
  assert.equal(c.serialNumber, "51" + "11".repeat(15));
  assert.equal(c.subject, "O=例, CN=a0000001");
  assert.equal(c.notBefore.toISOString(), "2026-04-01T09:00:00.000Z");
  assert.equal(c.notAfter.toISOString(), "2027-04-01T09:00:00.000Z");
  const ku = c.getExtension(x509.KeyUsagesExtension);
  assert.equal(ku?.critical, true);
  assert.equal(ku?.usages, x509.KeyUsageFlags.digitalSignature);
  assert.deepEqual([...(c.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])], [x509.ExtendedKeyUsage.clientAuth]);
  assert.equal(c.getExtension(x509.BasicConstraintsExtension)?.ca, false);
  const ski = c.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  assert.equal(ski, keyIdentifier(spkiDer(user.publicKey)).toString("hex"));
  assert.equal(c.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId, issuingInfo.der.length > 0 ? keyIdentifier(spkiDer(issuing.publicKey)).toString("hex") : "");
  const aia = c.getExtension(x509.AuthorityInfoAccessExtension);
  assert.equal(aia?.ocsp[0]?.value, urls.ocspUrl);
  assert.equal(aia?.caIssuers[0]?.value, urls.caIssuersUrl);
  assert.equal(c.getExtension(x509.CRLDistributionPointsExtension)?.distributionPoints[0]?.distributionPoint?.fullName?.[0]?.uniformResourceIdentifier, urls.crlUrl);
  // RSA keys also get keyEncipherment.
  const r = await issue(rsaUser);
  assert.equal(r.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  // A chain through the wrong root does not verify.
  const other = await createHierarchy({ organization: "他", hostnames: ["x"], now, rootKey: await generateKeyPair(), issuingKey: issuing, tlsKey: tls, urls: {} });
  assert.equal((await verifyChain(h.tlsDer, [h.issuingDer], other.rootDer, now)).ok, false);
});

test("PKCS#7 certs-only round-trips; PEM and strict base64", async () => {
  const now = new Date();
  const h = await createHierarchy({ organization: "O", hostnames: ["localhost"], now, rootKey: await generateKeyPair(), issuingKey: await generateKeyPair(), tlsKey: await generateKeyPair(), urls: {} });
  const p7 = certsOnly([h.issuingDer, h.rootDer]);
  assert.deepEqual(readCertsOnly(p7), [h.issuingDer, h.rootDer]);
  assert.throws(() => readCertsOnly(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])), code("BAD_DER"));
  assert.deepEqual(fromPem(toPem(h.rootDer, "CERTIFICATE"), "CERTIFICATE"), h.rootDer);
  assert.throws(() => fromPem("nothing", "CERTIFICATE"), code("BAD_PEM"));
  assert.deepEqual(decodeBase64Strict("TWFu\r\nTWFu"), Buffer.from("ManMan"));
  assert.deepEqual(decodeBase64Strict("TWE"), Buffer.from("Ma"));
  for (const bad of ["", "  ", "TW@u", "T", "TWFu="+"="+"="]) assert.throws(() => decodeBase64Strict(bad), code("BAD_BASE64"), bad);
});
