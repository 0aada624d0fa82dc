/** The CSR Attributes response (RFC 7030 4.5.2): which key and signature the CA expects. */
import { AsnArray, AsnConvert, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes } from "@peculiar/asn1-schema";
import { Attribute } from "@peculiar/asn1-x509";
import * as asn1js from "asn1js";
import type { KeyKind } from "../pki/keys.js";

/** AttrOrOID ::= CHOICE { oid OBJECT IDENTIFIER, attribute Attribute } */
@AsnType({ type: AsnTypeTypes.Choice })
class AttrOrOid {
  @AsnProp({ type: AsnPropTypes.ObjectIdentifier })
  oid?: string;

  @AsnProp({ type: Attribute })
  attribute?: Attribute;

  constructor(p: Partial<AttrOrOid> = {}) {
    Object.assign(this, p);
  }
}

/** CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID */
@AsnType({ type: AsnTypeTypes.Sequence, itemType: AttrOrOid })
class CsrAttrs extends AsnArray<AttrOrOid> {
  constructor(items: AttrOrOid[] = []) {
    super(items);
    Object.setPrototypeOf(this, CsrAttrs.prototype);
  }
}

const EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const CURVE = { "ec-p256": "1.2.840.10045.3.1.7", "ec-p384": "1.3.132.0.34" } as const;
const SIG = { "ec-p256": "1.2.840.10045.4.3.2", "ec-p384": "1.2.840.10045.4.3.3", rsa: "1.2.840.113549.1.1.11" } as const;
const RSA_ENCRYPTION = "1.2.840.113549.1.1.1";

function oidDer(oid: string): ArrayBuffer {
  return new asn1js.ObjectIdentifier({ value: oid }).toBER();
}

/** DER of the attributes for the configured key kind. */
export function csrAttrsFor(kind: KeyKind): Buffer {
  const items =
    kind === "ec-p256" || kind === "ec-p384"
      ? [
          new AttrOrOid({ oid: SIG[kind] }),
          new AttrOrOid({ attribute: new Attribute({ type: EC_PUBLIC_KEY, values: [oidDer(CURVE[kind])] }) }),
        ]
      : [new AttrOrOid({ oid: SIG.rsa }), new AttrOrOid({ oid: RSA_ENCRYPTION })];
  return Buffer.from(AsnConvert.serialize(new CsrAttrs(items)));
}
