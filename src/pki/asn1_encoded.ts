/**
 * An element already DER-encoded, placed verbatim inside an asn1js structure. Browser-safe (no
 * Node.js API, no Buffer): the browser's PKCS#12 writer (pkcs12_web.ts) uses it as well as the
 * certificate assembly of assemble.ts.
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

// ---- small asn1js builders, shared by shomei export's and the browser's PKCS#12 writers ----

export type Block = asn1js.BaseBlock;

export const seq = (...value: Block[]): Block => new asn1js.Sequence({ value });
export const oid = (value: string): Block => new asn1js.ObjectIdentifier({ value });
export const octets = (b: Uint8Array): Block => new asn1js.OctetString({ valueHex: b });
export const int = (value: number): Block => new asn1js.Integer({ value });
export const nul = (): Block => new asn1js.Null();
export const explicit0 = (inner: Block): Block => new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [inner] });
/** The DER bytes of a block. */
export const derBytes = (b: Block): Uint8Array => new Uint8Array(b.toBER(false));
