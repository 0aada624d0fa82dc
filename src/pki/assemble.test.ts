/** The assembled encodings are byte-for-byte what @peculiar/asn1-schema produces for whole objects. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, Extensions, SubjectPublicKeyInfo, TBSCertificate, Validity, Version, AlgorithmIdentifier, type Extension } from "@peculiar/asn1-x509";
import { CertificateChoices, CertificateSet, ContentInfo, DigestAlgorithmIdentifiers, EncapsulatedContentInfo, SignedData, SignerInfos, id_data, id_signedData } from "@peculiar/asn1-cms";
import { assembleCertificate, assembleCertsOnly, assembleTbs } from "./assemble.js";
import { generateKeyPair, spkiDer } from "./keys.js";
import { buildName } from "./names.js";
import { clientExtensions, serverExtensions } from "./profiles.js";
import { randomSerial } from "./serial.js";

async function cases(): Promise<{ serial: Buffer; notBefore: Date; notAfter: Date; spki: Buffer; extensions: Extension[] }[]> {
  const out = [];
  for (const [kind, nb, na] of [
    ["ec-p256", "2026-11-25T19:13:55.000Z", "2027-11-25T19:13:55.000Z"],
    ["rsa-2048", "2049-12-31T23:59:59.000Z", "2050-01-01T00:00:00.000Z"],
    ["ec-p384", "2026-01-01T00:00:00.999Z", "2099-06-30T12:00:00.000Z"],
  ] as const) {
    const k = await generateKeyPair(kind);
    const spki = spkiDer(k.publicKey);
    const extensions = kind === "ec-p384"
      ? serverExtensions({ spki, keyKind: kind, issuerKeyId: Buffer.alloc(20, 1), hostnames: ["ca.example.jp", "127.0.0.1"], urls: {} })
      : clientExtensions({ spki, keyKind: kind, issuerKeyId: Buffer.alloc(20, 2), urls: { crlUrl: "http://x/crl", ocspUrl: "http://x/ocsp", caIssuersUrl: "http://x/ca" } });
    out.push({ serial: randomSerial(), notBefore: new Date(nb), notAfter: new Date(na), spki, extensions });
  }
  return out;
}

test("assembleTbs and assembleCertificate equal the asn1-schema encoding", async () => {
  const alg = new AlgorithmIdentifier({ algorithm: "1.2.840.10045.4.3.2" });
  const issuer = buildName({ organization: "テスト株式会社", commonName: "テスト株式会社 Issuing CA 1" });
  const subject = buildName({ organization: "テスト株式会社", commonName: "a0000001" });
  for (const c of await cases()) {
    const tbs = new TBSCertificate({
      version: Version.v3, serialNumber: new Uint8Array(c.serial).buffer, signature: alg, issuer,
      validity: new Validity({ notBefore: c.notBefore, notAfter: c.notAfter }), subject,
      subjectPublicKeyInfo: AsnConvert.parse(c.spki, SubjectPublicKeyInfo), extensions: new Extensions(c.extensions),
    });
    const expected = Buffer.from(AsnConvert.serialize(tbs));
    const ser = (o: unknown): Buffer => Buffer.from(AsnConvert.serialize(o));
    const got = assembleTbs({
      serial: c.serial, signatureAlgorithm: ser(alg), issuer: ser(issuer), notBefore: c.notBefore, notAfter: c.notAfter,
      subject: ser(subject), spki: c.spki, extensions: c.extensions.map(ser),
    });
    assert.equal(got.toString("hex"), expected.toString("hex"));
    const sig = Buffer.from("3045022100" + "ab".repeat(32) + "022000" + "cd".repeat(31), "hex");
    const cert = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: alg, signatureValue: new Uint8Array(sig).buffer });
    assert.equal(assembleCertificate(got, ser(alg), sig).toString("hex"), ser(cert).toString("hex"));
  }
});

test("assembleCertsOnly equals the asn1-cms encoding", async () => {
  const ders = (await cases()).map((c) => {
    const alg = new AlgorithmIdentifier({ algorithm: "1.2.840.10045.4.3.2" });
    const name = buildName({ commonName: "x" });
    return Buffer.from(AsnConvert.serialize(new Certificate({
      tbsCertificate: new TBSCertificate({
        version: Version.v3, serialNumber: new Uint8Array(c.serial).buffer, signature: alg, issuer: name,
        validity: new Validity({ notBefore: c.notBefore, notAfter: c.notAfter }), subject: name,
        subjectPublicKeyInfo: AsnConvert.parse(c.spki, SubjectPublicKeyInfo), extensions: new Extensions(c.extensions),
      }),
      signatureAlgorithm: alg, signatureValue: new Uint8Array([1, 2, 3]).buffer,
    })));
  });
  for (const set of [ders.slice(0, 1), ders.slice(0, 2), ders]) {
    const signed = new SignedData({
      version: 1, digestAlgorithms: new DigestAlgorithmIdentifiers(), encapContentInfo: new EncapsulatedContentInfo({ eContentType: id_data }),
      certificates: new CertificateSet(set.map((d) => new CertificateChoices({ certificate: AsnConvert.parse(d, Certificate) }))),
      signerInfos: new SignerInfos(),
    });
    const expected = Buffer.from(AsnConvert.serialize(new ContentInfo({ contentType: id_signedData, content: AsnConvert.serialize(signed) })));
    assert.equal(assembleCertsOnly(set).toString("hex"), expected.toString("hex"));
  }
});
