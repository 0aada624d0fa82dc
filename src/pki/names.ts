/** Distinguished names: built by the CA (never copied from a request) and shown as text. */
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from "@peculiar/asn1-x509";

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
