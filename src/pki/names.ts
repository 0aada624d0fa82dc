/** Distinguished names: built by the CA (never copied from a request) and shown as text. */
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from "@peculiar/asn1-x509";
import { tlv } from "./der.js";

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

/** The common name, or undefined. */
export function commonNameOf(name: Name): string | undefined {
  for (const r of name) for (const atv of r) if (atv.type === OID.CN) return atv.value.toString();
  return undefined;
}
