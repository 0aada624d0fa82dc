/** Distinguished names: built by the CA (never copied from a request) and shown as text. */
import { AsnConvert } from "@peculiar/asn1-schema";
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from "@peculiar/asn1-x509";
import { children, readTlv, tlv } from "./der.js";

const OID = { C: "2.5.4.6", O: "2.5.4.10", OU: "2.5.4.11", CN: "2.5.4.3" } as const;
const SHORT: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(OID).map(([k, v]) => [v, k]));

export interface NameParts {
  readonly country?: string;
  readonly organization?: string;
  readonly organizationalUnit?: string;
  readonly commonName: string;
}

function rdn(type: string, value: AttributeValue): RelativeDistinguishedName {
  return new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value })]);
}

/** C, O, OU, CN in that order; C as PrintableString, the rest as UTF8String (Japanese names). */
export function buildName(p: NameParts): Name {
  const rdns: RelativeDistinguishedName[] = [];
  if (p.country) rdns.push(rdn(OID.C, new AttributeValue({ printableString: p.country })));
  if (p.organization) rdns.push(rdn(OID.O, new AttributeValue({ utf8String: p.organization })));
  if (p.organizationalUnit) rdns.push(rdn(OID.OU, new AttributeValue({ utf8String: p.organizationalUnit })));
  rdns.push(rdn(OID.CN, new AttributeValue({ utf8String: p.commonName })));
  return new Name(rdns);
}

const ATTRIBUTE = {
  C: Buffer.from("0603550406", "hex"),
  O: Buffer.from("060355040a", "hex"),
  OU: Buffer.from("060355040b", "hex"),
  CN: Buffer.from("0603550403", "hex"),
} as const;

const rdnDer = (type: Buffer, tag: number, value: string): Buffer => tlv(0x31, tlv(0x30, type, tlv(tag, Buffer.from(value, tag === 0x13 ? "latin1" : "utf8"))));

/**
 * The DER of `buildName(p)`, written directly (the subject of every issued certificate; the
 * test proves it byte-for-byte equal to asn1-schema's encoding of buildName).
 */
export function nameDer(p: NameParts): Buffer {
  const rdns: Buffer[] = [];
  if (p.country) rdns.push(rdnDer(ATTRIBUTE.C, 0x13, p.country));
  if (p.organization) rdns.push(rdnDer(ATTRIBUTE.O, 0x0c, p.organization));
  if (p.organizationalUnit) rdns.push(rdnDer(ATTRIBUTE.OU, 0x0c, p.organizationalUnit));
  rdns.push(rdnDer(ATTRIBUTE.CN, 0x0c, p.commonName));
  return tlv(0x30, ...rdns);
}

/** `CN=…, O=…` (most specific first, as OpenSSL's RFC 2253 form shows it). */
export function nameToString(name: Name): string {
  return [...name]
    .reverse()
    .flatMap((r) => [...r].map((atv) => `${SHORT[atv.type] ?? atv.type}=${atv.value.toString()}`))
    .join(", ");
}

/** C, O, OU and CN by the hex of their OID's content octets. */
const SHORT_BY_CONTENT: ReadonlyMap<string, string> = new Map([["550406", "C"], ["55040a", "O"], ["55040b", "OU"], ["550403", "CN"]]);

/**
 * nameToString of a Name's DER read with the DER walker, for the common case only: every RDN
 * one attribute of C, O, OU or CN, each value a UTF8String or PrintableString of printable
 * ASCII (which every decoder reads the same). Anything else is undefined: the caller then
 * takes asn1-schema's way (nameDerText). names.test.ts compares the two on crafted and random names.
 */
export function quickNameText(der: Uint8Array): string | undefined {
  const what = "Name";
  try {
    const outer = readTlv(der, 0, what);
    if (outer.tag !== 0x30 || outer.end !== der.length) return undefined;
    const parts: string[] = [];
    for (const set of children(der, outer, what)) {
      if (set.tag !== 0x31) return undefined;
      const atv = readTlv(der, set.start, what, set.end);
      if (atv.tag !== 0x30 || atv.end !== set.end) return undefined;
      const type = readTlv(der, atv.start, what, atv.end);
      if (type.tag !== 0x06 || type.end >= atv.end) return undefined;
      const value = readTlv(der, type.end, what, atv.end);
      if (value.end !== atv.end || (value.tag !== 0x0c && value.tag !== 0x13)) return undefined;
      const short = SHORT_BY_CONTENT.get(Buffer.from(der.buffer, der.byteOffset + type.start, type.end - type.start).toString("hex"));
      if (short === undefined) return undefined;
      for (let i = value.start; i < value.end; i++) {
        const c = der[i] ?? 0;
        if (c < 0x20 || c > 0x7e) return undefined;
      }
      parts.push(`${short}=${Buffer.from(der.buffer, der.byteOffset + value.start, value.end - value.start).toString("latin1")}`);
    }
    return parts.reverse().join(", ");
  } catch {
    return undefined;
  }
}

/** `nameToString` of a Name given as DER: the walker when it can (quickNameText), else asn1-schema. Throws what AsnConvert.parse throws. */
export function nameDerText(der: Uint8Array): string {
  return quickNameText(der) ?? nameToString(AsnConvert.parse(der, Name));
}

/** The common name, or undefined. */
export function commonNameOf(name: Name): string | undefined {
  for (const r of name) for (const atv of r) if (atv.type === OID.CN) return atv.value.toString();
  return undefined;
}
