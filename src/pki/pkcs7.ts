/** PKCS#7 / CMS "certs-only" SignedData (RFC 7030 4.1.3 and 4.2.3): build and read. */
import { AsnConvert } from "@peculiar/asn1-schema";
import { ContentInfo, SignedData, id_signedData } from "@peculiar/asn1-cms";
import { assembleCertsOnly } from "./assemble.js";
import { ShomeiError } from "../i18n/errors.js";

/** A degenerate SignedData holding only the given certificates. */
export function certsOnly(certs: readonly Uint8Array[]): Buffer {
  return assembleCertsOnly(certs);
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
