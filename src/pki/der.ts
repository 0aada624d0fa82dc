/**
 * A minimal DER walker for the places that need the exact bytes of a part (what was signed,
 * a Name as its certificate encodes it) or must stay linear on very large inputs (CRLs).
 */
import { ShomeiError } from "../i18n/errors.js";

/** Tag and length octets of an element with `length` content octets. */
export function header(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.from([tag, length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
}

/** One DER element from its tag and content parts. */
export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  let length = 0;
  for (const c of content) length += c.length;
  return Buffer.concat([header(tag, length), ...content]);
}

/** Minimal two's-complement content bytes of a non-negative integer given as big-endian magnitude. */
export function unsignedIntegerContent(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const m = Buffer.from(magnitude.buffer, magnitude.byteOffset + start, magnitude.length - start);
  if (m.length === 0) return Buffer.from([0]);
  return (m[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), m]) : m;
}

const two = (n: number): string => String(n).padStart(2, "0");

/** GeneralizedTime of a date in whole seconds (YYYYMMDDHHMMSSZ), as DER and asn1-schema write it. */
export function generalizedTimeDer(d: Date): Buffer {
  const t = new Date(Math.floor(d.getTime() / 1000) * 1000);
  return tlv(0x18, Buffer.from(String(t.getUTCFullYear()).padStart(4, "0") + monthToSecond(t), "latin1"));
}

/** UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5), whole seconds. */
export function timeDer(d: Date): Buffer {
  const t = new Date(Math.floor(d.getTime() / 1000) * 1000);
  const y = t.getUTCFullYear();
  return y > 2049 ? generalizedTimeDer(t) : tlv(0x17, Buffer.from(two(y % 100) + monthToSecond(t), "latin1"));
}

const monthToSecond = (t: Date): string => two(t.getUTCMonth() + 1) + two(t.getUTCDate()) + two(t.getUTCHours()) + two(t.getUTCMinutes()) + two(t.getUTCSeconds()) + "Z";

export interface Tlv {
  readonly tag: number;
  /** Where the element starts (its tag), where its content starts, and where it ends. */
  readonly at: number;
  readonly start: number;
  readonly end: number;
}

/** Reads the DER element at `at`, which must end by `limit`, or throws BAD_DER. Definite lengths only. */
export function readTlv(der: Uint8Array, at: number, what: string, limit = der.length): Tlv {
  const bad = (): ShomeiError => new ShomeiError("BAD_DER", { what });
  const tag = der[at];
  let len = der[at + 1];
  if (tag === undefined || len === undefined || at + 2 > limit) throw bad();
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw bad();
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[start + i] ?? 0);
    start += n;
  }
  const end = start + len;
  if (end > limit) throw bad();
  return { tag, at, start, end };
}

/** The elements inside a constructed element, in order. */
export function* children(der: Uint8Array, parent: Tlv, what: string): Generator<Tlv> {
  for (let at = parent.start; at < parent.end;) {
    const t = readTlv(der, at, what, parent.end);
    yield t;
    at = t.end;
  }
}

/**
 * Re-encodes BER as DER where it matters for reading (as NSS writes PKCS#12 contents):
 * indefinite lengths become definite and constructed OCTET STRINGs one primitive OCTET STRING.
 * Throws BAD_DER on anything that is not BER, nested deeper than 32 levels, or left over.
 */
export function berToDer(ber: Uint8Array, what: string): Buffer {
  const bad = (): ShomeiError => new ShomeiError("BAD_DER", { what });
  /** The element at `at`: its DER, where it ended, and for OCTET STRINGs the content. */
  const walk = (at: number, end: number, depth: number): { der: Buffer; next: number; octets?: Buffer } => {
    if (depth > 32) throw bad();
    const tag = ber[at];
    const first = ber[at + 1];
    if (tag === undefined || first === undefined || at + 2 > end || (tag & 0x1f) === 0x1f) throw bad();
    let start = at + 2;
    let stop: number | undefined; // undefined: indefinite, ends at 00 00
    if (first === 0x80) {
      if ((tag & 0x20) === 0) throw bad();
    } else if (first & 0x80) {
      const n = first & 0x7f;
      if (n > 4 || start + n > end) throw bad();
      let len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + (ber[start + i] ?? 0);
      start += n;
      stop = start + len;
      if (stop > end) throw bad();
    } else {
      stop = start + first;
      if (stop > end) throw bad();
    }
    if ((tag & 0x20) === 0) {
      if (stop === undefined) throw bad();
      const content = Buffer.from(ber.subarray(start, stop));
      return { der: tlv(tag, content), next: stop, ...(tag === 0x04 ? { octets: content } : {}) };
    }
    const parts: Buffer[] = [];
    const octets: Buffer[] = [];
    let p = start;
    const limit = stop ?? end;
    for (;;) {
      if (stop === undefined) {
        if (p + 2 > limit) throw bad();
        if (ber[p] === 0 && ber[p + 1] === 0) { p += 2; break; }
      } else if (p >= stop) {
        break;
      }
      const child = walk(p, limit, depth + 1);
      if (tag === 0x24) {
        if (child.octets === undefined) throw bad();
        octets.push(child.octets);
      }
      parts.push(child.der);
      p = child.next;
    }
    if (tag === 0x24) {
      const content = Buffer.concat(octets);
      return { der: tlv(0x04, content), next: p, octets: content };
    }
    return { der: tlv(tag, ...parts), next: p };
  };
  const r = walk(0, ber.length, 0);
  if (r.next !== ber.length) throw bad();
  return r.der;
}
