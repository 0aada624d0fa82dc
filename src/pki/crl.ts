/**
 * Certificate revocation lists (RFC 5280 section 5), encoded without a general ASN.1 library
 * on the hot path: a CA may have a million revoked certificates, so each entry is encoded
 * once, straight to DER, and the list is a concatenation of those encodings. Callers that
 * publish often can keep encoded entries (encodeCrlEntry) and hand them to
 * buildCrlFromEncoded, which only adds the header, the extensions and the signature.
 * The fixed parts (AuthorityKeyIdentifier, reason codes) are encoded by @peculiar/asn1-schema;
 * tests check the whole CRL is byte-for-byte what asn1-schema writes for it.
 */
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AuthorityKeyIdentifier, CRLReason, CRLReasons, Certificate, Extension, KeyIdentifier, Name,
  SubjectKeyIdentifier, id_ce_authorityKeyIdentifier, id_ce_cRLNumber, id_ce_cRLReasons, id_ce_subjectKeyIdentifier,
} from "@peculiar/asn1-x509";
import { ShomeiError } from "../i18n/errors.js";
import { children, header, readTlv, tlv, unsignedIntegerContent, type Tlv } from "./der.js";
import type { Signer } from "./keys.js";
import { nameToString } from "./names.js";
import { keyIdentifier } from "./profiles.js";

/** DER of an asn1-schema value (what certificate.ts's encode does; not imported from there, which loads @peculiar/x509). */
const encode = (value: unknown): Buffer => Buffer.from(AsnConvert.serialize(value));

/** RFC 5280 5.3.1 reason codes Shomei writes (removeFromCRL is for delta CRLs only). */
export const CRL_REASONS = [
  "unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
  "cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise",
] as const;
export type CrlReason = (typeof CRL_REASONS)[number];

export interface CrlEntry {
  /** The certificate's serial as lowercase hex (as serialHex() and the database hold it). */
  readonly serialHex: string;
  readonly revokedAt: Date;
  /** Absent or "unspecified": no reasonCode extension (RFC 5280 5.3.1). */
  readonly reason?: CrlReason;
}

/** Everything about a CRL except its entries. */
export interface CrlHeader {
  /** DER of the issuing CA certificate: its subject becomes the CRL issuer, its SKI the AKI. */
  readonly issuerDer: Uint8Array;
  readonly signer: Signer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** Monotonically increasing, 0 <= n < 2^159 (at most 20 octets). */
  readonly crlNumber: bigint;
  /**
   * A partitioned CRL (a shard): the URL certificates name as their CRL distribution point.
   * Written as a critical issuingDistributionPoint (RFC 5280 5.2.5) with that URL and
   * onlyContainsUserCerts (the issuing CA certifies no CAs), so a relying party never takes
   * a shard for a complete CRL.
   */
  readonly distributionPoint?: string;
}

export interface CrlInput extends CrlHeader {
  readonly entries: Iterable<CrlEntry>;
}

// ---- DER primitives --------------------------------------------------------------------

/** A sequence of possibly very many parts, without spreading them into a call. */
function bigSequence(tag: number, parts: readonly Uint8Array[]): Uint8Array[] {
  let length = 0;
  for (const p of parts) length += p.length;
  return [header(tag, length), ...parts];
}

function concatAll(parts: readonly Uint8Array[]): Buffer {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const SERIAL_HEX = /^[0-9a-fA-F]{1,80}$/;

/** The INTEGER content of a positive serial, as even-length hex (minimal, 00 before a high bit). */
function serialContentHex(hex: string): string {
  if (!SERIAL_HEX.test(hex)) throw new ShomeiError("FIELD_INVALID", { field: "serial", reason: `not a hex serial: ${hex.slice(0, 90)}` });
  let h = hex.length % 2 ? `0${hex}` : hex;
  let start = 0;
  while (start < h.length - 2 && h[start] === "0" && h[start + 1] === "0") start += 2;
  if (start > 0) h = h.slice(start);
  return "89abcdefABCDEF".includes(h[0] ?? "0") ? `00${h}` : h;
}


function extension(extnID: string, value: unknown): Buffer {
  return encode(new Extension({ extnID, critical: false, extnValue: new OctetString(AsnConvert.serialize(value)) }));
}

/** crlEntryExtensions (a SEQUENCE holding the reasonCode extension) per reason, encoded once. */
const REASON_EXTENSIONS: ReadonlyMap<string, Buffer> = new Map(
  CRL_REASONS.filter((r) => r !== "unspecified").map((r) => [r, tlv(0x30, extension(id_ce_cRLReasons, new CRLReason(CRLReasons[r])))]),
);

// ---- entries ---------------------------------------------------------------------------

/** Whole seconds since the epoch of a valid date from 1950 to 9999, else FIELD_INVALID. */
function seconds(d: Date): number {
  const ms = d.getTime();
  if (!(ms >= -631_152_000_000 && ms < 253_402_300_800_000)) {
    throw new ShomeiError("FIELD_INVALID", { field: "date", reason: `${Number.isFinite(ms) ? d.toISOString() : "invalid date"} cannot be encoded` });
  }
  return Math.floor(ms / 1000);
}

/**
 * Writes the DER Time (UTCTime until 2049, GeneralizedTime from 2050, RFC 5280 5.1.2.4) of
 * whole seconds at `at`, tag and length included, and returns where it ends. Date arithmetic
 * by hand (H. Hinnant's civil_from_days): toISOString would be most of an entry's cost.
 */
function writeTime(out: Buffer, at: number, secs: number): number {
  const days = Math.floor(secs / 86_400);
  let rem = secs - days * 86_400;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const two = (n: number): void => {
    out[at++] = 48 + Math.floor(n / 10);
    out[at++] = 48 + (n % 10);
  };
  if (year <= 2049) {
    out[at++] = 0x17;
    out[at++] = 13;
    two(year % 100);
  } else {
    out[at++] = 0x18;
    out[at++] = 15;
    two(Math.floor(year / 100));
    two(year % 100);
  }
  two(month);
  two(day);
  const hour = Math.floor(rem / 3600);
  rem -= hour * 3600;
  two(hour);
  two(Math.floor(rem / 60));
  two(rem % 60);
  out[at++] = 0x5a; // Z
  return at;
}

const timeLength = (secs: number): number => (secs < 2_524_608_000 ? 15 : 17); // 2050-01-01T00:00:00Z

/** UTCTime or GeneralizedTime of a date, whole seconds. */
function time(d: Date): Buffer {
  const secs = seconds(d);
  const out = Buffer.alloc(timeLength(secs));
  writeTime(out, 0, secs);
  return out;
}

/**
 * One revokedCertificates element, DER, written into a single buffer (the per-entry cost of
 * a big CRL). Callers may cache these and use buildCrlFromEncoded.
 */
export function encodeCrlEntry(e: CrlEntry): Buffer {
  const serial = serialContentHex(e.serialHex);
  const serialLength = serial.length / 2;
  const secs = seconds(e.revokedAt);
  let ext: Buffer | undefined;
  if (e.reason !== undefined && e.reason !== "unspecified") {
    ext = REASON_EXTENSIONS.get(e.reason);
    if (!ext) throw new ShomeiError("REASON_INVALID", { reason: String(e.reason), allowed: CRL_REASONS.join(", ") });
  }
  const content = 2 + serialLength + timeLength(secs) + (ext?.length ?? 0); // serial and time are < 128 octets
  const head = content < 0x80 ? 2 : 3;
  const out = Buffer.allocUnsafe(head + content);
  out[0] = 0x30;
  if (head === 2) out[1] = content;
  else {
    out[1] = 0x81;
    out[2] = content;
  }
  let at = head;
  out[at++] = 0x02;
  out[at++] = serialLength;
  at += out.write(serial, at, "hex");
  at = writeTime(out, at, secs);
  if (ext) out.set(ext, at);
  return out;
}

// ---- the issuing CA --------------------------------------------------------------------

/** The issuer's subject Name exactly as its certificate encodes it, and its key identifier. */
export function crlIssuerOf(issuerDer: Uint8Array): { name: Buffer; keyId: Buffer } {
  const cert = readTlv(issuerDer, 0, "certificate");
  const tbs = readTlv(issuerDer, cert.start, "certificate", cert.end);
  let at = tbs.start;
  const skip = (): void => void (at = readTlv(issuerDer, at, "certificate", tbs.end).end);
  if (issuerDer[at] === 0xa0) skip(); // version
  skip(); // serialNumber
  skip(); // signature
  skip(); // issuer
  skip(); // validity
  const subject = readTlv(issuerDer, at, "certificate", tbs.end);
  const name = Buffer.from(issuerDer.subarray(at, subject.end));

  let parsed: Certificate;
  try {
    parsed = AsnConvert.parse(issuerDer, Certificate);
  } catch (e) {
    throw new ShomeiError("BAD_DER", { what: "certificate" }, { cause: e });
  }
  const ski = parsed.tbsCertificate.extensions?.find((x) => x.extnID === id_ce_subjectKeyIdentifier);
  const keyId = ski
    ? Buffer.from(AsnConvert.parse(ski.extnValue, SubjectKeyIdentifier).buffer)
    : keyIdentifier(encode(parsed.tbsCertificate.subjectPublicKeyInfo));
  return { name, keyId };
}

// ---- the CRL ---------------------------------------------------------------------------

function crlNumberContent(n: bigint): Buffer {
  if (n < 0n || n >= 1n << 159n) throw new ShomeiError("FIELD_INVALID", { field: "crlNumber", reason: `${n} is outside 0..2^159-1` });
  const hex = n.toString(16);
  return unsignedIntegerContent(Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex"));
}

const OID_IDP = Buffer.from([0x55, 0x1d, 0x1c]);

/** The critical issuingDistributionPoint extension: fullName = one URI, onlyContainsUserCerts TRUE. */
function idpExtension(uri: string): Buffer {
  const idp = tlv(0x30, tlv(0xa0, tlv(0xa0, tlv(0x86, Buffer.from(uri, "latin1")))), Buffer.from([0x81, 0x01, 0xff]));
  return tlv(0x30, tlv(0x06, OID_IDP), Buffer.from([0x01, 0x01, 0xff]), tlv(0x04, idp));
}

/**
 * The revokedCertificates of a DER CRL as one slice (the concatenated entries, without their
 * SEQUENCE header; empty when there are none): what a re-signed CRL with more entries starts
 * from, without decoding any entry.
 */
export function crlEntriesOf(der: Uint8Array): Buffer {
  const bad = (): ShomeiError => new ShomeiError("BAD_DER", { what: "CRL" });
  const outer = readTlv(der, 0, "CRL");
  const tbs = readTlv(der, outer.start, "CRL", outer.end);
  if (outer.tag !== 0x30 || tbs.tag !== 0x30) throw bad();
  let at = tbs.start;
  const skip = (): Tlv => {
    const t = readTlv(der, at, "CRL", tbs.end);
    at = t.end;
    return t;
  };
  if (der[at] === 0x02) skip(); // version
  skip(); // signature
  skip(); // issuer
  skip(); // thisUpdate
  if (der[at] === 0x17 || der[at] === 0x18) skip(); // nextUpdate
  if (at < tbs.end && der[at] === 0x30) {
    const list = skip();
    return Buffer.from(der.buffer, der.byteOffset + list.start, list.end - list.start);
  }
  return Buffer.alloc(0);
}

/**
 * A signed v2 CRL from entries already encoded by encodeCrlEntry, placed in the order given.
 * With no entries the revokedCertificates field is left out, as RFC 5280 5.1.2.6 requires.
 */
export async function buildCrlFromEncoded(h: CrlHeader, encodedEntries: readonly Uint8Array[]): Promise<Buffer> {
  if (!(h.nextUpdate.getTime() > h.thisUpdate.getTime())) {
    throw new ShomeiError("FIELD_INVALID", { field: "nextUpdate", reason: "must be later than thisUpdate" });
  }
  const issuer = crlIssuerOf(h.issuerDer);
  const algorithm = encode(h.signer.algorithm);
  const aki = extension(id_ce_authorityKeyIdentifier, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(issuer.keyId) }));
  const number = encode(new Extension({ extnID: id_ce_cRLNumber, critical: false, extnValue: new OctetString(tlv(0x02, crlNumberContent(h.crlNumber))) }));
  const extensions = tlv(0xa0, h.distributionPoint === undefined ? tlv(0x30, aki, number) : tlv(0x30, aki, number, idpExtension(h.distributionPoint)));

  const tbsParts: Uint8Array[] = [
    Buffer.from([0x02, 0x01, 0x01]), // version v2
    algorithm,
    issuer.name,
    time(h.thisUpdate),
    time(h.nextUpdate),
  ];
  if (encodedEntries.some((e) => e.length > 0)) for (const p of bigSequence(0x30, encodedEntries)) tbsParts.push(p);
  tbsParts.push(extensions);
  const tbs = concatAll(bigSequence(0x30, tbsParts));

  const signature = await h.signer.sign(tbs);
  const bitString = tlv(0x03, Buffer.from([0]), signature);
  return concatAll(bigSequence(0x30, [tbs, algorithm, bitString]));
}

/** A signed v2 CRL (DER): issuer and AKI from the issuing CA, CRL number, entries in the order given. */
export async function buildCrl(i: CrlInput): Promise<Buffer> {
  const encoded: Buffer[] = [];
  for (const e of i.entries) encoded.push(encodeCrlEntry(e));
  return buildCrlFromEncoded(i, encoded);
}

// ---- reading ---------------------------------------------------------------------------

export interface CrlInfo {
  readonly issuer: string;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  readonly crlNumber?: bigint;
  /** The issuingDistributionPoint's URI, on a partitioned CRL (a shard). */
  readonly distributionPoint?: string;
  readonly entries: readonly { serialHex: string; revokedAt: Date; reason?: string }[];
}

function integerToBigint(content: Uint8Array): bigint {
  if (content.length === 0) return 0n;
  const v = BigInt(`0x${Buffer.from(content).toString("hex")}`);
  return (content[0] ?? 0) & 0x80 ? v - (1n << BigInt(content.length * 8)) : v;
}

const DIGITS = /^\d+$/;

/** UTCTime or GeneralizedTime as DER writes them (seconds, "Z"). */
function readTime(der: Uint8Array, t: Tlv): Date {
  const s = Buffer.from(der.subarray(t.start, t.end)).toString("latin1");
  const body = s.slice(0, -1);
  if (!s.endsWith("Z") || !DIGITS.test(body) || body.length !== (t.tag === 0x17 ? 12 : t.tag === 0x18 ? 14 : -1)) {
    throw new ShomeiError("BAD_DER", { what: "CRL" });
  }
  const yy = Number(body.slice(0, t.tag === 0x17 ? 2 : 4));
  const year = t.tag === 0x17 ? (yy < 50 ? 2000 + yy : 1900 + yy) : yy;
  const r = body.slice(t.tag === 0x17 ? 2 : 4);
  return new Date(Date.UTC(year, Number(r.slice(0, 2)) - 1, Number(r.slice(2, 4)), Number(r.slice(4, 6)), Number(r.slice(6, 8)), Number(r.slice(8, 10))));
}

const OID_REASON = Buffer.from([0x55, 0x1d, 0x15]);
const OID_CRL_NUMBER = Buffer.from([0x55, 0x1d, 0x14]);
const REASON_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(CRLReasons).filter((kv): kv is [string, number] => typeof kv[1] === "number").map(([k, v]) => [v, k]),
);

/** The extnValue content of the extension with this OID in a SEQUENCE OF Extension, if any. */
function findExtension(der: Uint8Array, list: Tlv, oid: Buffer): Tlv | undefined {
  for (const ext of children(der, list, "CRL")) {
    const parts = [...children(der, ext, "CRL")];
    const id = parts[0];
    const value = parts[parts.length - 1];
    if (!id || !value || id.tag !== 0x06 || value.tag !== 0x04) throw new ShomeiError("BAD_DER", { what: "CRL" });
    if (oid.equals(der.subarray(id.start, id.end))) return value;
  }
  return undefined;
}

/**
 * Parses a DER CRL, or throws BAD_DER. Walks the DER directly (linear, no object tree), so it
 * reads CRLs with a million entries; the issuer Name is decoded by asn1-schema.
 */
export function readCrl(der: Uint8Array): CrlInfo {
  const bad = (): ShomeiError => new ShomeiError("BAD_DER", { what: "CRL" });
  const outer = readTlv(der, 0, "CRL");
  if (outer.tag !== 0x30 || outer.end !== der.length) throw bad();
  const tbs = readTlv(der, outer.start, "CRL", outer.end);
  if (tbs.tag !== 0x30) throw bad();
  const fields = children(der, tbs, "CRL");
  const next = (): Tlv | undefined => {
    const r = fields.next();
    return r.done ? undefined : r.value;
  };
  let f = next();
  if (f?.tag === 0x02) f = next(); // version
  if (f?.tag !== 0x30) throw bad(); // signature
  const issuerTlv = next();
  if (issuerTlv?.tag !== 0x30) throw bad();
  let issuer: string;
  try {
    issuer = nameToString(AsnConvert.parse(der.subarray(issuerTlv.at, issuerTlv.end), Name));
  } catch (e) {
    throw new ShomeiError("BAD_DER", { what: "CRL" }, { cause: e });
  }
  const thisTlv = next();
  if (!thisTlv) throw bad();
  const thisUpdate = readTime(der, thisTlv);
  f = next();
  let nextUpdate: Date | undefined;
  if (f && (f.tag === 0x17 || f.tag === 0x18)) {
    nextUpdate = readTime(der, f);
    f = next();
  }
  const entries: { serialHex: string; revokedAt: Date; reason?: string }[] = [];
  if (f?.tag === 0x30) {
    for (const entry of children(der, f, "CRL")) {
      const [serial, date, exts] = [...children(der, entry, "CRL")];
      if (serial?.tag !== 0x02 || !date) throw bad();
      const hex = Buffer.from(der.subarray(serial.start, serial.end)).toString("hex").replace(/^00(?=[89a-f])/, "");
      const reasonValue = exts?.tag === 0x30 ? findExtension(der, exts, OID_REASON) : undefined;
      let reason: string | undefined;
      if (reasonValue) {
        const e = readTlv(der, reasonValue.start, "CRL", reasonValue.end);
        if (e.tag !== 0x0a || e.end - e.start !== 1) throw bad();
        reason = REASON_NAMES.get(der[e.start] ?? -1) ?? String(der[e.start]);
      }
      entries.push({ serialHex: hex, revokedAt: readTime(der, date), ...(reason === undefined ? {} : { reason }) });
    }
    f = next();
  }
  let crlNumber: bigint | undefined;
  let distributionPoint: string | undefined;
  if (f?.tag === 0xa0) {
    const list = readTlv(der, f.start, "CRL", f.end);
    const idp = findExtension(der, list, OID_IDP);
    if (idp) {
      // IssuingDistributionPoint { [0] { [0] fullName { [6] URI } } … }
      let t = readTlv(der, idp.start, "CRL", idp.end);
      for (const tag of [0x30, 0xa0, 0xa0, 0x86]) {
        if (t.tag !== tag) throw bad();
        if (tag !== 0x86) t = readTlv(der, t.start, "CRL", t.end);
      }
      distributionPoint = Buffer.from(der.subarray(t.start, t.end)).toString("latin1");
    }
    const value = findExtension(der, list, OID_CRL_NUMBER);
    if (value) {
      const n = readTlv(der, value.start, "CRL", value.end);
      if (n.tag !== 0x02) throw bad();
      crlNumber = integerToBigint(der.subarray(n.start, n.end));
    }
    f = next();
  }
  if (f !== undefined) throw bad();
  return {
    issuer,
    thisUpdate,
    ...(nextUpdate ? { nextUpdate } : {}),
    ...(crlNumber === undefined ? {} : { crlNumber }),
    ...(distributionPoint === undefined ? {} : { distributionPoint }),
    entries,
  };
}
