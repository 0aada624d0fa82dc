/**
 * The issuance hot path writes the per-certificate parts as DER directly. Each is byte-for-byte
 * what @peculiar/asn1-schema writes for the objects it replaces, and a whole certificate from
 * Issuer.issueClient has exactly the TBSCertificate that the asn1-schema objects give.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, Extensions, SubjectPublicKeyInfo, TBSCertificate, Validity, Version } from "@peculiar/asn1-x509";
import { makeTestCa } from "../../test/helpers/client_pki.js";
import { timeDer } from "../pki/assemble.js";
import { certificateSpki, certificateSubject, encode } from "../pki/certificate.js";
import { buildCsr, parseCsr } from "../pki/csr.js";
import { generateKeyPair, keyObjectSigner, spkiDer, type KeyKind } from "../pki/keys.js";
import { buildName, nameDer, type NameParts } from "../pki/names.js";
import {
  clientAltNameExtension, clientAltNameExtensionDer, clientFixedExtensions, keyIdentifier, keyIdentifierFast, subjectKeyIdExtension,
  subjectKeyIdExtensionDer, type ClientAltName,
} from "../pki/profiles.js";
import { Issuer, clientAltName, type ClientAltNamePolicy } from "./issuer.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

test("nameDer equals encode(buildName) for every part, Japanese and long values included", () => {
  const long = "長".repeat(200);
  const cases: NameParts[] = [
    { commonName: "a0000001" },
    { organization: "テスト株式会社", commonName: "a0000001" },
    { organization: "", commonName: "x" },
    { country: "JP", organization: "Shomei Test", organizationalUnit: "情報システム部", commonName: "山田 太郎" },
    { organization: long, commonName: "b".repeat(130) },
    { organization: "😀 emoji, \"quotes\" + <>;", commonName: "user@example.jp" },
  ];
  for (const p of cases) assert.equal(hex(nameDer(p)), hex(encode(buildName(p))), JSON.stringify(p).slice(0, 80));
});

test("timeDer equals asn1-schema's Validity times: UTCTime to 2049, GeneralizedTime from 2050, whole seconds", () => {
  for (const iso of ["2026-11-25T19:13:55.000Z", "2000-01-01T00:00:00.000Z", "1999-12-31T23:59:59.999Z", "2049-12-31T23:59:59.000Z",
    "2050-01-01T00:00:00.000Z", "2099-06-30T12:00:09.500Z", "2026-02-03T04:05:06.007Z"]) {
    const d = new Date(iso);
    const whole = new Date(Math.floor(d.getTime() / 1000) * 1000);
    const v = encode(new Validity({ notBefore: whole, notAfter: whole }));
    // Validity ::= SEQUENCE { notBefore Time, notAfter Time }: both halves are the same time here.
    const t = timeDer(d);
    assert.equal(hex(v), hex(Buffer.concat([Buffer.from([0x30, t.length * 2]), t, t])), iso);
  }
});

test("the subject key identifier and the alternative names equal the asn1-schema extensions", async () => {
  const kinds: KeyKind[] = ["ec-p256", "ec-p384", "rsa-2048"];
  for (const kind of kinds) {
    const spki = spkiDer((await generateKeyPair(kind)).publicKey);
    assert.equal(hex(keyIdentifierFast(spki)), hex(keyIdentifier(spki)), kind);
    assert.equal(hex(subjectKeyIdExtensionDer(spki)), hex(encode(subjectKeyIdExtension(spki))), kind);
  }
  const names: ClientAltName[] = [
    { email: "taro.yamada@example.jp" }, { email: `${"a".repeat(120)}@example.jp` },
    { upn: "a0000001@corp.example.jp" }, { upn: "山田@例え.jp" }, { upn: `${"u".repeat(200)}@x` },
  ];
  for (const n of names) assert.equal(hex(clientAltNameExtensionDer(n)), hex(encode(clientAltNameExtension(n))), JSON.stringify(n));
});

test("a certificate from issueClient has the TBSCertificate asn1-schema builds from the same values", async () => {
  const ca = await makeTestCa();
  const urls = { crlUrl: "http://127.0.0.1:8080/crl/issuing.crl", ocspUrl: "http://127.0.0.1:8080/ocsp", caIssuersUrl: "http://127.0.0.1:8080/ca/issuing.crt" };
  const policies: (ClientAltNamePolicy | undefined)[] = [undefined, { mode: "upn", upnDomain: "corp.example.jp" }, { mode: "none" }];
  for (const kind of ["ec-p256", "rsa-2048"] as const) {
    for (const policy of policies) {
      const issuer = new Issuer({ issuingCertDer: ca.issuingDer, signer: keyObjectSigner(ca.issuingKey.privateKey), urls, clientValidityDays: 397, ...(policy ? { altName: policy } : {}) });
      const key = await generateKeyPair(kind);
      const csr = parseCsr(await buildCsr({ publicKey: key.publicKey, signer: keyObjectSigner(key.privateKey), commonName: "ignored" }));
      const who = { userId: "a0000001", organization: "テスト株式会社", email: "taro@example.jp" };
      const issued = await issuer.issueClient(csr, who, new Date("2026-12-04T21:00:00.123Z"), "hash");
      const got = AsnConvert.parse(issued.der, Certificate);
      const alt = clientAltName(policy ?? { mode: "email" }, who);
      const expected = new TBSCertificate({
        version: Version.v3, serialNumber: got.tbsCertificate.serialNumber, signature: got.signatureAlgorithm,
        issuer: certificateSubject(ca.issuingDer),
        validity: new Validity({ notBefore: new Date(issued.notBefore), notAfter: new Date(issued.notAfter) }),
        subject: buildName({ organization: who.organization, commonName: who.userId }),
        subjectPublicKeyInfo: AsnConvert.parse(csr.spki, SubjectPublicKeyInfo),
        extensions: new Extensions([
          ...clientFixedExtensions({ keyKind: csr.keyKind, issuerKeyId: keyIdentifier(certificateSpki(ca.issuingDer)), urls }),
          subjectKeyIdExtension(csr.spki), ...(alt ? [clientAltNameExtension(alt)] : []),
        ]),
      });
      assert.equal(hex(encode(got.tbsCertificate)), hex(encode(expected)), `${kind} ${JSON.stringify(policy)}`);
      // And the bytes issued are that TBS (nothing re-encoded on the way back).
      assert.ok(issued.der.includes(encode(expected)));
    }
  }
});
