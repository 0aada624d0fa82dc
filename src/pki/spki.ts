/**
 * Checks a key from outside on its DER bytes before any Node API sees it. Node's crypto aborts
 * the whole process in native code on some malformed keys (an EC SubjectPublicKeyInfo whose
 * point is empty aborts when `asymmetricKeyDetails` is read), so every public key that comes
 * from a CSR, a certificate or a PKCS#12 file goes through `checkSpki` first, and private keys
 * from PKCS#12 through `checkPkcs8`. Pure: no Node crypto at all until the checks pass.
 *
 * Accepted: EC P-256 and P-384 with a named curve and an uncompressed point on the curve;
 * rsaEncryption with NULL parameters, a positive, minimally encoded, odd modulus of exactly
 * 2048 or 3072 bits, and exponent 65537.
 */
import { createPrivateKey, createPublicKey, KeyObject, webcrypto } from "node:crypto";
import { ShomeiError } from "../i18n/errors.js";
import type { KeyKind } from "./keys.js";

interface El {
  readonly tag: number;
  /** Whole element, and its content. */
  readonly raw: Buffer;
  readonly content: Buffer;
}

const WHAT = "public key";

function bad(what: string): ShomeiError {
  return new ShomeiError("BAD_DER", { what });
}

function invalid(reason: string): ShomeiError {
  return new ShomeiError("KEY_INVALID", { reason });
}

/** One DER element at `at` (definite, minimal length; single-byte tags only). */
function element(buf: Buffer, at: number, what: string): El {
  const tag = buf[at];
  const first = buf[at + 1];
  if (tag === undefined || first === undefined || (tag & 0x1f) === 0x1f) throw bad(what);
  let len = first;
  let start = at + 2;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 3 || start + n > buf.length) throw bad(what);
    if (buf[start] === 0) throw bad(what); // not minimal
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] ?? 0);
    if (len < 0x80) throw bad(what); // long form for a short length
    start += n;
  }
  const end = start + len;
  if (end > buf.length) throw bad(what);
  return { tag, raw: buf.subarray(at, end), content: buf.subarray(start, end) };
}

/** The elements of a constructed element's content, all of it. */
function elements(content: Buffer, what: string): El[] {
  const out: El[] = [];
  for (let at = 0; at < content.length;) {
    const e = element(content, at, what);
    out.push(e);
    at += e.raw.length;
  }
  return out;
}

/** Exactly one element spanning all of `buf`, with the expected tag. */
function whole(buf: Buffer, tag: number, what: string): El {
  const e = element(buf, 0, what);
  if (e.tag !== tag || e.raw.length !== buf.length) throw bad(what);
  return e;
}

/** Dotted form of an OID's content octets (for messages only). */
export function oidText(content: Uint8Array): string {
  const parts: bigint[] = [];
  let v = 0n;
  for (const b of content) {
    v = (v << 7n) | BigInt(b & 0x7f);
    if ((b & 0x80) === 0) {
      parts.push(v);
      v = 0n;
    }
  }
  if (parts.length === 0) return "?";
  const first = parts[0]!;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...parts.slice(1)].join(".");
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ""), "hex");

const OID_EC = hex("2a8648ce3d0201"); // 1.2.840.10045.2.1
const OID_RSA = hex("2a864886f70d010101"); // 1.2.840.113549.1.1.1
const OID_RSA_PSS = hex("2a864886f70d01010a");

const KNOWN_OTHER: Readonly<Record<string, string>> = {
  "1.3.101.112": "Ed25519",
  "1.3.101.113": "Ed448",
  "1.3.101.110": "X25519",
  "1.3.101.111": "X448",
  "1.2.840.10040.4.1": "DSA",
  "1.2.840.113549.1.1.10": "RSA-PSS",
  "1.3.132.0.35": "P-521",
  "1.3.132.0.10": "secp256k1",
  "1.2.840.10045.3.1.1": "P-192",
  "1.3.132.0.33": "P-224",
};

interface Curve {
  readonly kind: "ec-p256" | "ec-p384";
  readonly oid: Buffer;
  readonly size: number;
  readonly p: bigint;
  readonly a: bigint;
  readonly b: bigint;
  /** Group order (for private scalars). */
  readonly n: bigint;
}

const CURVES: readonly Curve[] = [
  {
    kind: "ec-p256",
    oid: hex("2a8648ce3d030107"), // 1.2.840.10045.3.1.7
    size: 32,
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    a: 0xffffffff00000001000000000000000000000000fffffffffffffffffffffffcn,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  },
  {
    kind: "ec-p384",
    oid: hex("2b81040022"), // 1.3.132.0.34
    size: 48,
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    a: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000fffffffcn,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  },
];

function big(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt("0x" + Buffer.from(b).toString("hex"));
}

/** The named curve of EC parameters, or a coded refusal. */
function curveOf(params: El | undefined): Curve {
  if (params === undefined) throw invalid("EC key without curve parameters");
  if (params.tag === 0x30) throw new ShomeiError("KEY_UNSUPPORTED", { kind: "EC with explicit curve parameters" });
  if (params.tag !== 0x06) throw new ShomeiError("KEY_UNSUPPORTED", { kind: "EC without a named curve" });
  const curve = CURVES.find((c) => c.oid.equals(params.content));
  if (!curve) {
    const oid = oidText(params.content);
    throw new ShomeiError("KEY_UNSUPPORTED", { kind: `EC ${KNOWN_OTHER[oid] ?? oid}` });
  }
  return curve;
}

/** Checks an EC public point: uncompressed, of the curve's length, coordinates below p, on the curve. */
function checkPoint(curve: Curve, point: Buffer): void {
  if (point.length === 0) throw invalid("empty EC point");
  const form = point[0];
  if (point.length === 1 && form === 0x00) throw invalid("EC point at infinity");
  if (form === 0x02 || form === 0x03) throw invalid("compressed EC point (only uncompressed points are accepted)");
  if (form === 0x06 || form === 0x07) throw invalid("hybrid EC point (only uncompressed points are accepted)");
  if (form !== 0x04) throw invalid(`unknown EC point form 0x${(form ?? 0).toString(16).padStart(2, "0")}`);
  if (point.length !== 1 + 2 * curve.size) throw invalid(`EC point of ${point.length} bytes (${1 + 2 * curve.size} expected)`);
  const x = big(point.subarray(1, 1 + curve.size));
  const y = big(point.subarray(1 + curve.size));
  const { p, a, b } = curve;
  if (x >= p || y >= p) throw invalid("EC point coordinate not below the field prime");
  const lhs = (y * y) % p;
  const rhs = (((x * x) % p) * x + a * x + b) % p;
  if (lhs !== rhs) throw invalid("EC point not on the curve");
}

/** The bits of a BIT STRING content with no unused bits. */
function bitStringBytes(bits: El, what: string): Buffer {
  if (bits.tag !== 0x03 || bits.content.length === 0) throw bad(what);
  if (bits.content[0] !== 0) throw invalid("key bits with unused bits");
  return bits.content.subarray(1);
}

/** A positive, minimally encoded INTEGER's magnitude, or a KEY_INVALID refusal. */
function positiveInteger(e: El | undefined, name: string): Buffer {
  if (e === undefined || e.tag !== 0x02 || e.content.length === 0) throw invalid(`RSA ${name} is not an INTEGER`);
  const c = e.content;
  if ((c[0]! & 0x80) !== 0) throw invalid(`RSA ${name} is negative`);
  if (c.length > 1 && c[0] === 0 && (c[1]! & 0x80) === 0) throw invalid(`RSA ${name} is not minimally encoded`);
  const mag = c[0] === 0 ? c.subarray(1) : c;
  if (mag.length === 0) throw invalid(`RSA ${name} is zero`);
  return mag;
}

function bitLength(mag: Buffer): number {
  return (mag.length - 1) * 8 + (32 - Math.clz32(mag[0]!));
}

function checkRsaParams(params: El | undefined): void {
  if (params === undefined || params.tag !== 0x05 || params.content.length !== 0) {
    throw invalid("rsaEncryption parameters must be NULL");
  }
}

/** Modulus and exponent: positive, minimal, odd modulus of 2048 or 3072 bits, exponent 65537. */
function checkRsaNumbers(nEl: El | undefined, eEl: El | undefined): KeyKind {
  const n = positiveInteger(nEl, "modulus");
  const e = positiveInteger(eEl, "exponent");
  if ((n[n.length - 1]! & 1) === 0) throw invalid("RSA modulus is even");
  const bits = bitLength(n);
  if (bits < 2048) throw new ShomeiError("KEY_TOO_SMALL", { bits });
  if (bits !== 2048 && bits !== 3072) throw new ShomeiError("KEY_UNSUPPORTED", { kind: `RSA ${bits}` });
  if (e.length > 8 || big(e) !== 65537n) {
    throw new ShomeiError("KEY_RSA_EXPONENT", { exponent: e.length > 8 ? `${bitLength(e)}-bit` : big(e).toString() });
  }
  return bits === 2048 ? "rsa-2048" : "rsa-3072";
}

/** RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } */
function checkRsa(params: El | undefined, keyBits: Buffer): KeyKind {
  checkRsaParams(params);
  const seq = element(keyBits, 0, WHAT);
  if (seq.tag !== 0x30 || seq.raw.length !== keyBits.length) throw invalid("RSA key is not a SEQUENCE of modulus and exponent");
  const parts = elements(seq.content, WHAT);
  if (parts.length !== 2) throw invalid("RSA key is not a SEQUENCE of modulus and exponent");
  return checkRsaNumbers(parts[0], parts[1]);
}

/**
 * Checks a SubjectPublicKeyInfo DER and returns its kind, or throws BAD_DER (not DER),
 * KEY_INVALID (a broken key), KEY_UNSUPPORTED, KEY_TOO_SMALL or KEY_RSA_EXPONENT.
 *
 *   SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
 */
export function checkSpki(der: Uint8Array): KeyKind {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const outer = whole(buf, 0x30, WHAT);
  const [alg, bits, ...rest] = elements(outer.content, WHAT);
  if (alg?.tag !== 0x30 || bits === undefined || rest.length > 0) throw bad(WHAT);
  const [oid, params, ...more] = elements(alg.content, WHAT);
  if (oid?.tag !== 0x06 || more.length > 0) throw bad(WHAT);
  const keyBits = bitStringBytes(bits, WHAT);
  if (oid.content.equals(OID_EC)) {
    const curve = curveOf(params);
    checkPoint(curve, keyBits);
    return curve.kind;
  }
  if (oid.content.equals(OID_RSA)) return checkRsa(params, keyBits);
  const text = oidText(oid.content);
  throw new ShomeiError("KEY_UNSUPPORTED", { kind: oid.content.equals(OID_RSA_PSS) ? "RSA-PSS" : KNOWN_OTHER[text] ?? text });
}

/**
 * Like checkSpki, but a well-formed key of a kind Shomei does not use (another curve, RSA
 * 4096, Ed25519, …) is `undefined` instead of an error; a broken key (KEY_INVALID) or bytes
 * that are not a SubjectPublicKeyInfo (BAD_DER) still throw. For reading certificates of other
 * CAs: their keys are never loaded, since everything that loads a key calls checkSpki.
 */
export function classifySpki(der: Uint8Array): KeyKind | undefined {
  try {
    return checkSpki(der);
  } catch (e) {
    if (e instanceof ShomeiError && (e.code === "KEY_UNSUPPORTED" || e.code === "KEY_TOO_SMALL" || e.code === "KEY_RSA_EXPONENT")) return undefined;
    throw e;
  }
}

/**
 * How node:crypto loads a checked key most cheaply. An EC key as JWK coordinates skips
 * OpenSSL 3's decoder lookup (a third or more of createPublicKey's time for SPKI DER) and makes
 * the same key: spki.test.ts proves the key exports the very SPKI DER it came from. checkSpki
 * has checked the structure, so the uncompressed point is the last 1 + 2·size bytes.
 */
function importable(der: Uint8Array, kind: KeyKind): Parameters<typeof createPublicKey>[0] {
  const size = kind === "ec-p256" ? 32 : kind === "ec-p384" ? 48 : 0;
  if (size === 0) return { key: Buffer.from(der), format: "der", type: "spki" };
  const point = Buffer.from(der.buffer, der.byteOffset + der.byteLength - (1 + 2 * size), 1 + 2 * size);
  return {
    key: { kty: "EC", crv: size === 32 ? "P-256" : "P-384", x: point.subarray(1, 1 + size).toString("base64url"), y: point.subarray(1 + size).toString("base64url") },
    format: "jwk",
  };
}

/** A checked public key: the KeyObject is made only after `checkSpki` passed. */
export function publicKeyFromSpki(der: Uint8Array): { publicKey: KeyObject; kind: KeyKind } {
  const kind = checkSpki(der);
  try {
    return { publicKey: createPublicKey(importable(der, kind)), kind };
  } catch (e) {
    throw new ShomeiError("KEY_INVALID", { reason: "the key could not be loaded" }, { cause: e });
  }
}

/**
 * publicKeyFromSpki for the enrollment hot path: an EC key is loaded from its uncompressed
 * point through WebCrypto's raw import, which skips the JWK path's EC_KEY_check_key and
 * OpenSSL 3's decoders (import + first verify ≈ 25 µs cheaper here, docs/benchmarks.md); the
 * result is the same key (spki.test.ts: same SPKI DER back, same verify answers). RSA keys
 * as publicKeyFromSpki loads them. checkSpki runs first, as there.
 */
export async function publicKeyFromSpkiAsync(der: Uint8Array): Promise<{ publicKey: KeyObject; kind: KeyKind }> {
  const kind = checkSpki(der);
  const size = kind === "ec-p256" ? 32 : kind === "ec-p384" ? 48 : 0;
  if (size === 0) return publicKeyFromSpki(der);
  try {
    const point = Buffer.from(der.buffer, der.byteOffset + der.byteLength - (1 + 2 * size), 1 + 2 * size);
    const key = await webcrypto.subtle.importKey("raw", point, { name: "ECDSA", namedCurve: size === 32 ? "P-256" : "P-384" }, true, ["verify"]);
    return { publicKey: KeyObject.from(key), kind };
  } catch (e) {
    throw new ShomeiError("KEY_INVALID", { reason: "the key could not be loaded" }, { cause: e });
  }
}

/**
 * Checks a PKCS#8 PrivateKeyInfo before createPrivateKey: algorithm and curve as for public
 * keys, the EC private scalar in [1, n-1] and any embedded public point on the curve, the RSA
 * modulus size and exponent. Returns its kind.
 *
 *   PrivateKeyInfo ::= SEQUENCE { version INTEGER, algorithm AlgorithmIdentifier, privateKey OCTET STRING, [0] attributes OPTIONAL, [1] publicKey OPTIONAL }
 *   ECPrivateKey ::= SEQUENCE { version INTEGER (1), privateKey OCTET STRING, [0] parameters OPTIONAL, [1] publicKey BIT STRING OPTIONAL }
 *   RSAPrivateKey ::= SEQUENCE { version, n, e, d, p, q, dp, dq, qinv }
 */
export function checkPkcs8(der: Uint8Array): KeyKind {
  const what = "private key";
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const outer = whole(buf, 0x30, what);
  const [version, alg, key] = elements(outer.content, what);
  if (version?.tag !== 0x02 || alg?.tag !== 0x30 || key?.tag !== 0x04) throw bad(what);
  if (!(version.content.length === 1 && (version.content[0] === 0 || version.content[0] === 1))) throw bad(what);
  const [oid, params, ...more] = elements(alg.content, what);
  if (oid?.tag !== 0x06 || more.length > 0) throw bad(what);
  if (oid.content.equals(OID_EC)) {
    const curve = curveOf(params);
    const ecKey = whole(key.content, 0x30, what);
    const [v, scalar, ...tail] = elements(ecKey.content, what);
    if (v?.tag !== 0x02 || !v.content.equals(Buffer.from([1])) || scalar?.tag !== 0x04) throw bad(what);
    // Some encoders drop leading zero bytes of the scalar: shorter is fine, longer is not.
    if (scalar.content.length === 0 || scalar.content.length > curve.size) throw invalid(`EC private key of ${scalar.content.length} bytes (at most ${curve.size} expected)`);
    const d = big(scalar.content);
    if (d === 0n || d >= curve.n) throw invalid("EC private key out of range");
    for (const t of tail) {
      if (t.tag === 0xa0) {
        const inner = whole(t.content, 0x06, what);
        if (!inner.content.equals(curve.oid)) throw invalid("EC private key names a different curve");
      } else if (t.tag === 0xa1) {
        checkPoint(curve, bitStringBytes(whole(t.content, 0x03, what), what));
      } else {
        throw bad(what);
      }
    }
    return curve.kind;
  }
  if (oid.content.equals(OID_RSA)) {
    checkRsaParams(params);
    const rsaKey = whole(key.content, 0x30, what);
    const parts = elements(rsaKey.content, what);
    if (parts.length !== 9 || parts.some((p) => p.tag !== 0x02)) throw invalid("RSA private key is not a two-prime RSAPrivateKey");
    return checkRsaNumbers(parts[1], parts[2]);
  }
  const text = oidText(oid.content);
  throw new ShomeiError("KEY_UNSUPPORTED", { kind: KNOWN_OTHER[text] ?? text });
}

/** A checked private key: createPrivateKey runs only after `checkPkcs8` passed. */
export function privateKeyFromPkcs8(der: Uint8Array): { privateKey: KeyObject; kind: KeyKind } {
  const kind = checkPkcs8(der);
  try {
    return { privateKey: createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" }), kind };
  } catch (e) {
    throw new ShomeiError("KEY_INVALID", { reason: "the private key could not be loaded" }, { cause: e });
  }
}
