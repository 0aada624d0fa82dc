/**
 * The requested subject read by the DER walker (quickNameText, the enrollment hot path) gives
 * the text asn1-schema's Name + nameToString gives, or steps aside (undefined) for asn1-schema.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Name } from "@peculiar/asn1-x509";
import { tlv } from "./der.js";
import { nameDer, nameDerText, nameToString, quickNameText } from "./names.js";

const hex = (s: string): Buffer => Buffer.from(s, "hex");
const OID = { C: hex("0603550406"), O: hex("060355040a"), OU: hex("060355040b"), CN: hex("0603550403"), email: hex("06092a864886f70d010901"), L: hex("0603550407") };
const atv = (oid: Buffer, tag: number, value: Buffer): Buffer => tlv(0x30, oid, tlv(tag, value));
const rdn = (...atvs: Buffer[]): Buffer => tlv(0x31, ...atvs);
const name = (...rdns: Buffer[]): Buffer => tlv(0x30, ...rdns);

/** What the reference (asn1-schema) gives: the text, or that it throws. */
function reference(der: Buffer): string {
  try {
    return `text ${nameToString(AsnConvert.parse(der, Name))}`;
  } catch {
    return "throws";
  }
}

function outcome(f: () => string): string {
  try {
    return `text ${f()}`;
  } catch {
    return "throws";
  }
}

/** Checks one name both ways; returns whether the walker answered by itself. */
function same(der: Buffer, label: string): boolean {
  const ref = reference(der);
  const quick = quickNameText(der);
  if (quick !== undefined) assert.equal(`text ${quick}`, ref, `${label}: the walker's own answer`);
  assert.equal(outcome(() => nameDerText(der)), ref, label);
  return quick !== undefined;
}

const ascii = Buffer.from(Array.from({ length: 0x5f }, (_, i) => 0x20 + i));

test("quickNameText gives asn1-schema's text for common names and steps aside for the rest", () => {
  const walked: [string, Buffer][] = [
    ["CN only", nameDer({ commonName: "a0000001" })],
    ["C, O, OU, CN", nameDer({ country: "JP", organization: "Example Corp", organizationalUnit: "IT", commonName: "a0000001" })],
    ["empty name", name()],
    ["empty value", name(rdn(atv(OID.CN, 0x0c, Buffer.alloc(0))))],
    ["every printable ASCII, UTF8String", name(rdn(atv(OID.CN, 0x0c, ascii)))],
    ["every printable ASCII, PrintableString", name(rdn(atv(OID.O, 0x13, ascii)), rdn(atv(OID.CN, 0x13, ascii)))],
    ["long value (long-form length)", name(rdn(atv(OID.CN, 0x0c, Buffer.from("x".repeat(300)))))],
    ["a non-minimal length", hex("3010310e300c06035504030c810461626364")],
  ];
  for (const [label, der] of walked) assert.ok(same(der, label), `${label} is read by the walker`);

  const aside: [string, Buffer][] = [
    ["Japanese (UTF-8)", nameDer({ organization: "株式会社例", commonName: "山田 太郎" })],
    ["control character", name(rdn(atv(OID.CN, 0x0c, Buffer.from("a\nb"))))],
    ["DEL", name(rdn(atv(OID.CN, 0x0c, Buffer.from("a\x7fb"))))],
    ["latin-1 byte in PrintableString", name(rdn(atv(OID.CN, 0x13, hex("61e962"))))],
    ["IA5String", name(rdn(atv(OID.email, 0x16, Buffer.from("a@example.org"))))],
    ["another attribute type", name(rdn(atv(OID.L, 0x0c, Buffer.from("Tokyo"))))],
    ["BMPString", name(rdn(atv(OID.CN, 0x1e, hex("00610062"))))],
    ["TeletexString", name(rdn(atv(OID.CN, 0x14, Buffer.from("ab"))))],
    ["multi-valued RDN", name(rdn(atv(OID.O, 0x0c, Buffer.from("x")), atv(OID.CN, 0x0c, Buffer.from("y"))))],
    ["empty RDN", name(tlv(0x31))],
    ["RDN as SEQUENCE", name(tlv(0x30, atv(OID.CN, 0x0c, Buffer.from("a"))))],
    ["invalid UTF-8", name(rdn(atv(OID.CN, 0x0c, hex("c3"))))],
    ["trailing byte", Buffer.concat([nameDer({ commonName: "a" }), hex("00")])],
    ["cut short", nameDer({ commonName: "abc" }).subarray(0, 10)],
    ["indefinite length", hex("3080310a300806035504030c0161 0000".replace(/ /g, ""))],
    ["not a SEQUENCE", hex("0500")],
  ];
  for (const [label, der] of aside) {
    assert.equal(quickNameText(der), undefined, `${label} goes to asn1-schema`);
    same(der, label);
  }
});

test("quickNameText and asn1-schema agree on 5,000 random and mutated names", () => {
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const types = [OID.C, OID.O, OID.OU, OID.CN, OID.L];
  const tags = [0x0c, 0x13, 0x0c, 0x13, 0x16, 0x1e];
  let walked = 0;
  for (let i = 0; i < 5000; i++) {
    const rdns: Buffer[] = [];
    for (let r = rand(4); r >= 0; r--) {
      const len = rand(12);
      // Mostly printable ASCII, sometimes any byte.
      const value = Buffer.from(Array.from({ length: len }, () => (rand(8) === 0 ? rand(256) : 0x20 + rand(0x5f))));
      rdns.push(rdn(atv(types[rand(types.length)]!, tags[rand(tags.length)]!, value)));
    }
    let der = name(...rdns);
    const kind = rand(4);
    if (kind === 1 && der.length > 0) der[rand(der.length)] = rand(256);
    if (kind === 2) der = der.subarray(0, rand(der.length));
    if (kind === 3) der = Buffer.concat([der, Buffer.from([rand(256)])]);
    if (same(der, `name ${i} (${kind})`)) walked += 1;
  }
  assert.ok(walked > 300, `the walker answered ${walked} times`);
});
