/** PEM <-> DER. */
import { ShomeiError } from "../i18n/errors.js";

const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Wraps DER in a PEM block with 64-character lines. */
export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** All blocks with the given label, in order. Throws BAD_PEM when there is none. */
export function fromPemAll(text: string, label: string): Buffer[] {
  const out: Buffer[] = [];
  for (const m of text.matchAll(PEM_RE)) {
    if (m[1] === label) out.push(Buffer.from((m[2] ?? "").replace(/\s+/g, ""), "base64"));
  }
  if (out.length === 0) throw new ShomeiError("BAD_PEM", { label });
  return out;
}

/** The first block with the given label. */
export function fromPem(text: string, label: string): Buffer {
  return fromPemAll(text, label)[0] as Buffer;
}

/** True when the bytes look like PEM text rather than DER. */
export function looksLikePem(data: Uint8Array): boolean {
  return Buffer.from(data.subarray(0, 64)).toString("latin1").includes("-----BEGIN ");
}

/**
 * Strict base64 decoding (RFC 4648 alphabet, whitespace allowed, padding optional).
 * Node's own decoder silently skips bad characters; EST bodies must be refused instead.
 */
export function decodeBase64Strict(text: string): Buffer {
  const compact = text.replace(/[\s]+/g, "");
  if (compact.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw new ShomeiError("BAD_BASE64");
  }
  return Buffer.from(compact, "base64");
}
