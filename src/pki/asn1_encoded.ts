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
