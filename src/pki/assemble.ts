/**
 * Assembling DER from parts that are already encoded, with asn1js doing the structure and
 * lengths. Most of a client certificate is the same every time (algorithm, issuer, most
 * extensions): those parts are encoded once by @peculiar/asn1-schema and placed verbatim,
 * so issuing costs the few parts that change. Tests check the result is byte-for-byte what
 * asn1-schema produces for the whole object.
 */
import * as asn1js from "asn1js";

/** An element encoded elsewhere, written as it is. */
class Encoded extends asn1js.BaseBlock {
  constructor(private readonly bytes: Uint8Array) {
    super();
  }

  override toBER(_sizeOnly?: boolean, writer?: asn1js.ViewWriter): ArrayBuffer {
    if (writer) {
      writer.write(this.bytes);
      return new ArrayBuffer(0);
    }
    return this.bytes.slice().buffer;
  }
}

/** An element already DER-encoded, for use inside an asn1js structure without re-encoding it. */
export const encoded = (b: Uint8Array): asn1js.BaseBlock => new Encoded(b);

/** UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5), whole seconds. */
function time(d: Date): asn1js.BaseBlock {
  const t = new Date(Math.floor(d.getTime() / 1000) * 1000);
  return t.getUTCFullYear() > 2049 ? new asn1js.GeneralizedTime({ valueDate: t }) : new asn1js.UTCTime({ valueDate: t });
}

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

/** TBSCertificate (v3) from encoded parts. */
export function assembleTbs(p: TbsParts): Buffer {
  const tbs = new asn1js.Sequence({
    value: [
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Integer({ value: 2 })] }),
      new asn1js.Integer({ valueHex: p.serial }),
      encoded(p.signatureAlgorithm),
      encoded(p.issuer),
      new asn1js.Sequence({ value: [time(p.notBefore), time(p.notAfter)] }),
      encoded(p.subject),
      encoded(p.spki),
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 3 }, value: [new asn1js.Sequence({ value: p.extensions.map(encoded) })] }),
    ],
  });
  return Buffer.from(tbs.toBER());
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING } */
export function assembleCertificate(tbs: Uint8Array, signatureAlgorithm: Uint8Array, signature: Uint8Array): Buffer {
  const cert = new asn1js.Sequence({
    value: [encoded(tbs), encoded(signatureAlgorithm), new asn1js.BitString({ unusedBits: 0, valueHex: signature })],
  });
  return Buffer.from(cert.toBER());
}

const ID_SIGNED_DATA = "1.2.840.113549.1.7.2";
const ID_DATA = "1.2.840.113549.1.7.1";

/** ContentInfo with a degenerate SignedData holding the given certificates (RFC 5652, "certs-only"). */
export function assembleCertsOnly(certs: readonly Uint8Array[]): Buffer {
  const signedData = new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: 1 }),
      new asn1js.Set({ value: [] }),
      new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: ID_DATA })] }),
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: certs.map(encoded) }),
      new asn1js.Set({ value: [] }),
    ],
  });
  const info = new asn1js.Sequence({
    value: [
      new asn1js.ObjectIdentifier({ value: ID_SIGNED_DATA }),
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [signedData] }),
    ],
  });
  return Buffer.from(info.toBER());
}
