/**
 * The OCSP request reader of the hot path: a DER walk that takes the common request (one
 * CertID, SHA-1 or SHA-256, unsigned, with or without a nonce) in a few microseconds, without
 * building an ASN.1 object tree. Anything else — or anything it is not sure of — gives
 * undefined, and the caller reads the request with parseOcspRequest() (ocsp.ts), which decides.
 * For what it does accept it reads what parseOcspRequest() reads (ocsp_quick.test.ts checks).
 */
import { PRESIGNED_HASHES, id_pkix_ocsp_nonce, type PresignedHash } from "./ocsp.js";

export interface QuickOcspRequest {
  readonly hash: PresignedHash;
  readonly issuerNameHash: Buffer;
  readonly issuerKeyHash: Buffer;
  /** Lowercase hex without leading zero bytes, as parseOcspRequest() gives it. */
  readonly serialHex: string;
  /** The nonce's extnValue as sent (absent when none, or longer than RFC 8954's 32 octets). */
  readonly nonce?: Buffer;
}

const oidDer = (dotted: string): Buffer => {
  const parts = dotted.split(".").map(Number);
  const out: number[] = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const n of parts.slice(2)) {
    const b: number[] = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) b.unshift((v & 0x7f) | 0x80);
    out.push(...b);
  }
  return Buffer.from(out);
};
const SHA1 = oidDer(PRESIGNED_HASHES.sha1);
const SHA256 = oidDer(PRESIGNED_HASHES.sha256);
const NONCE = oidDer(id_pkix_ocsp_nonce);
const MAX_NONCE_EXTN_VALUE = 34;

/** Tag, content start and end of the element at `at` (which must end by `limit`), or undefined. */
function el(d: Uint8Array, at: number, limit: number): { tag: number; start: number; end: number } | undefined {
  if (at + 2 > limit) return undefined;
  const tag = d[at] ?? 0;
  let len = d[at + 1] ?? 0;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // DER: the long form only for 128 and up, without leading zero octets.
    if (n === 0 || n > 3 || start + n > limit || d[start] === 0) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (d[start + i] ?? 0);
    if (len < 0x80) return undefined;
    start += n;
  }
  const end = start + len;
  return end > limit ? undefined : { tag, start, end };
}

/** An OBJECT IDENTIFIER's content as DER has it: each subidentifier minimal, the last one ended. */
function validOid(d: Uint8Array, start: number, end: number): boolean {
  if (end <= start || ((d[end - 1] ?? 0) & 0x80) !== 0) return false;
  for (let i = start; i < end; i++) if (d[i] === 0x80 && (i === start || ((d[i - 1] ?? 0) & 0x80) === 0)) return false;
  return true;
}

const same = (d: Uint8Array, start: number, end: number, want: Buffer): boolean =>
  end - start === want.length && want.equals(d.subarray(start, end));

/** Reads the common OCSP request, or undefined (then parseOcspRequest() decides). */
export function readOcspRequestQuick(d: Uint8Array): QuickOcspRequest | undefined {
  const req = el(d, 0, d.length);
  if (req?.tag !== 0x30 || req.end !== d.length) return undefined;
  const tbs = el(d, req.start, req.end);
  // Anything after tbsRequest (a signature) or before requestList (version, requestorName): the full reader.
  if (tbs?.tag !== 0x30 || tbs.end !== req.end) return undefined;
  const list = el(d, tbs.start, tbs.end);
  if (list?.tag !== 0x30) return undefined;
  const one = el(d, list.start, list.end);
  if (one?.tag !== 0x30 || one.end !== list.end) return undefined;
  const certId = el(d, one.start, one.end);
  // singleRequestExtensions are not read by anyone: only a CertID alone.
  if (certId?.tag !== 0x30 || certId.end !== one.end) return undefined;
  const alg = el(d, certId.start, certId.end);
  if (alg?.tag !== 0x30) return undefined;
  const oid = el(d, alg.start, alg.end);
  if (oid?.tag !== 0x06) return undefined;
  let hash: PresignedHash;
  if (same(d, oid.start, oid.end, SHA1)) hash = "sha1";
  else if (same(d, oid.start, oid.end, SHA256)) hash = "sha256";
  else return undefined;
  // Parameters: absent or NULL.
  if (oid.end !== alg.end && !(alg.end - oid.end === 2 && d[oid.end] === 0x05 && d[oid.end + 1] === 0x00)) return undefined;
  const name = el(d, alg.end, certId.end);
  if (name?.tag !== 0x04) return undefined;
  const key = el(d, name.end, certId.end);
  if (key?.tag !== 0x04) return undefined;
  const serial = el(d, key.end, certId.end);
  if (serial?.tag !== 0x02 || serial.end !== certId.end || serial.end === serial.start) return undefined;
  let s = serial.start;
  while (s < serial.end - 1 && d[s] === 0) s++;
  const base = {
    hash, issuerNameHash: Buffer.from(d.subarray(name.start, name.end)), issuerKeyHash: Buffer.from(d.subarray(key.start, key.end)),
    serialHex: Buffer.from(d.subarray(s, serial.end)).toString("hex"),
  };
  if (list.end === tbs.end) return base;
  const tagged = el(d, list.end, tbs.end);
  if (tagged?.tag !== 0xa2 || tagged.end !== tbs.end) return undefined;
  const exts = el(d, tagged.start, tagged.end);
  if (exts?.tag !== 0x30 || exts.end !== tagged.end) return undefined;
  let nonce: Buffer | undefined;
  for (let at = exts.start; at < exts.end;) {
    const ext = el(d, at, exts.end);
    if (ext?.tag !== 0x30) return undefined;
    const id = el(d, ext.start, ext.end);
    if (id?.tag !== 0x06 || !validOid(d, id.start, id.end)) return undefined;
    let v = el(d, id.end, ext.end);
    if (v?.tag === 0x01) v = el(d, v.end, ext.end);
    if (v?.tag !== 0x04 || v.end !== ext.end) return undefined;
    // The first nonce counts, as parseOcspRequest() takes it.
    if (!nonce && same(d, id.start, id.end, NONCE)) {
      // An empty one is malformed: the full reader says so.
      if (v.end === v.start) return undefined;
      nonce = Buffer.from(d.subarray(v.start, v.end));
    }
    at = ext.end;
  }
  return nonce && nonce.length <= MAX_NONCE_EXTN_VALUE ? { ...base, nonce } : base;
}
