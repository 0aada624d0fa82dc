/**
 * Assembling DER from parts that are already encoded: tags and lengths written directly.
 * Most of a client certificate is the same every time (algorithm, issuer, most
 * extensions): those parts are encoded once by @peculiar/asn1-schema and placed verbatim,
 * so issuing costs the few parts that change. Tests check the result is byte-for-byte what
 * asn1-schema produces for the whole object.
 */
import { tlv, timeDer } from "./der.js";

export { encoded } from "./asn1_encoded.js";

export { timeDer } from "./der.js";

export interface TbsParts {
  /** Positive, minimally encoded serial bytes. */
  readonly serial: Uint8Array;
  readonly signatureAlgorithm: Uint8Array;
  readonly issuer: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subject: Uint8Array;
  readonly spki: Uint8Array;
  /** Each Extension, encoded, in order. */
  readonly extensions: readonly Uint8Array[];
}

/** [0] EXPLICIT Version v3. */
const VERSION_V3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);

/**
 * TBSCertificate (v3) from encoded parts: only tags and lengths are written here (der.ts `tlv`),
 * no object tree. The test proves it byte-for-byte equal to asn1-schema's encoding of the whole.
 */
export function assembleTbs(p: TbsParts): Buffer {
  return tlv(0x30,
    VERSION_V3,
    tlv(0x02, p.serial),
    p.signatureAlgorithm,
    p.issuer,
    tlv(0x30, timeDer(p.notBefore), timeDer(p.notAfter)),
    p.subject,
    p.spki,
    tlv(0xa3, tlv(0x30, ...p.extensions)));
}

const NO_UNUSED_BITS = Buffer.from([0]);

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING } */
export function assembleCertificate(tbs: Uint8Array, signatureAlgorithm: Uint8Array, signature: Uint8Array): Buffer {
  return tlv(0x30, tbs, signatureAlgorithm, tlv(0x03, NO_UNUSED_BITS, signature));
}

/** version 1, no digest algorithms, encapsulated id-data without content: the fixed start of a certs-only SignedData. */
const CERTS_ONLY_HEAD = Buffer.from("020101" + "3100" + "300b06092a864886f70d010701", "hex");
/** id-signedData. */
const ID_SIGNED_DATA = Buffer.from("06092a864886f70d010702", "hex");
const EMPTY_SET = Buffer.from("3100", "hex");

/** ContentInfo with a degenerate SignedData holding the given certificates (RFC 5652, "certs-only"). */
export function assembleCertsOnly(certs: readonly Uint8Array[]): Buffer {
  const signedData = tlv(0x30, CERTS_ONLY_HEAD, tlv(0xa0, ...certs), EMPTY_SET);
  return tlv(0x30, ID_SIGNED_DATA, tlv(0xa0, signedData));
}
