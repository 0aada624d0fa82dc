/** PKCS#7 / CMS "certs-only" SignedData (RFC 7030 4.1.3 and 4.2.3): build and read. */
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  CertificateChoices, CertificateSet, ContentInfo, DigestAlgorithmIdentifiers, EncapsulatedContentInfo, SignedData,
  SignerInfos, id_data, id_signedData,
} from "@peculiar/asn1-cms";
import { Certificate } from "@peculiar/asn1-x509";
import { ShomeiError } from "../i18n/errors.js";

/** A degenerate SignedData holding only the given certificates. */
export function certsOnly(certs: readonly Uint8Array[]): Buffer {
  const signed = new SignedData({
    version: 1,
    digestAlgorithms: new DigestAlgorithmIdentifiers(),
    encapContentInfo: new EncapsulatedContentInfo({ eContentType: id_data }),
    certificates: new CertificateSet(certs.map((der) => new CertificateChoices({ certificate: AsnConvert.parse(der, Certificate) }))),
    signerInfos: new SignerInfos(),
  });
  const info = new ContentInfo({ contentType: id_signedData, content: AsnConvert.serialize(signed) });
  return Buffer.from(AsnConvert.serialize(info));
}

/** The certificates in a certs-only (or any) SignedData, in the order they appear. */
export function readCertsOnly(der: Uint8Array): Buffer[] {
  try {
    const info = AsnConvert.parse(der, ContentInfo);
    if (info.contentType !== id_signedData) throw new Error(`content type ${info.contentType}`);
    const signed = AsnConvert.parse(info.content, SignedData);
    return [...(signed.certificates ?? [])]
      .filter((c) => c.certificate !== undefined)
      .map((c) => Buffer.from(AsnConvert.serialize(c.certificate)));
  } catch (e) {
    throw new ShomeiError("BAD_DER", { what: "PKCS#7" }, { cause: e });
  }
}
