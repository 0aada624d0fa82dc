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
