/**
 * Private keys at rest: encrypted PKCS#8 (EncryptedPrivateKeyInfo, RFC 5958) with PBES2
 * (RFC 8018), the key derived with scrypt (RFC 7914) and encrypted with AES-256-CBC.
 *
 * Written here because Node's `key.export({ cipher, passphrase })` always derives the key with
 * PBKDF2 at 2,048 iterations. Reading needs no code of ours: OpenSSL (`openssl pkey -passin`)
 * and Node's `createPrivateKey({ key, passphrase })` read this format, and keys written by older
 * versions (PBKDF2, 2,048 iterations) still open the same way; `wrappingOf` tells them apart so
 * `shomei-ca keys rewrap` can rewrap them.
 *
 * scrypt parameters: N = 2^14, r = 8, p = 5 (16 MiB; one of the equivalent settings OWASP names
 * as a minimum). OpenSSL refuses to read PKCS#8 whose scrypt needs more than 32 MiB (its default
 * maxmem), so N = 2^15 with r = 8 or more would write keys that `openssl pkey` and Node cannot
 * open; the work is raised with p instead, which costs time but not memory. Deriving took about
 * 0.85–1.3 s on the shared, loaded 2-core development machine (PBKDF2 at 600,000 iterations:
 * about 0.6 s there), paid once per key when init writes it and when the service starts.
 */
import { createPrivateKey, createCipheriv, createDecipheriv, pbkdf2, randomBytes, scrypt, type KeyObject } from "node:crypto";
import { children, readTlv, tlv, type Tlv } from "./der.js";
import { fromPem, toPem } from "./pem.js";

export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** What `wrapPrivateKey` writes. */
export const SCRYPT_PARAMS: ScryptParams = { N: 2 ** 14, r: 8, p: 5 };

/** PBKDF2 iterations at which a key written by someone else counts as well wrapped (OWASP, HMAC-SHA-256). */
export const PBKDF2_MIN_ITERATIONS = 600_000;

/** How a private-key PEM is protected. */
export type Wrapping =
  | { readonly kind: "none" }
  | { readonly kind: "scrypt"; readonly N: number; readonly r: number; readonly p: number; readonly cipher: string }
  | { readonly kind: "pbkdf2"; readonly iterations: number; readonly prf: string; readonly cipher: string }
  | { readonly kind: "other"; readonly oid: string };

const OID = {
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  scrypt: "1.3.6.1.4.1.11591.4.11",
  hmacWithSHA1: "1.2.840.113549.2.7",
  hmacWithSHA256: "1.2.840.113549.2.9",
  hmacWithSHA384: "1.2.840.113549.2.10",
  hmacWithSHA512: "1.2.840.113549.2.11",
  aes128cbc: "2.16.840.1.101.3.4.1.2",
  aes192cbc: "2.16.840.1.101.3.4.1.22",
  aes256cbc: "2.16.840.1.101.3.4.1.42",
} as const;

const PRF_NAMES: Readonly<Record<string, string>> = {
  [OID.hmacWithSHA1]: "hmacWithSHA1", [OID.hmacWithSHA256]: "hmacWithSHA256",
  [OID.hmacWithSHA384]: "hmacWithSHA384", [OID.hmacWithSHA512]: "hmacWithSHA512",
};
const CIPHER_NAMES: Readonly<Record<string, string>> = {
  [OID.aes128cbc]: "aes-128-cbc", [OID.aes192cbc]: "aes-192-cbc", [OID.aes256cbc]: "aes-256-cbc",
};

/**
 * Encrypted PKCS#8 PEM of `key` under `passphrase`: PBES2, scrypt, AES-256-CBC. Asynchronous
 * (scrypt runs on libuv's thread pool), so init wraps its three keys side by side.
 */
export async function wrapPrivateKey(key: KeyObject, passphrase: string, params: ScryptParams = SCRYPT_PARAMS): Promise<string> {
  const plain = key.export({ format: "der", type: "pkcs8" });
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const derived = await new Promise<Buffer>((resolve, reject) => {
    scrypt(Buffer.from(passphrase, "utf8"), salt, 32, { ...params, maxmem: 256 * params.N * params.r }, (e, k) => (e ? reject(e) : resolve(k)));
  });
  const cipher = createCipheriv("aes-256-cbc", derived, iv);
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
  derived.fill(0);
  const scryptParams = seq(octets(salt), integer(params.N), integer(params.r), integer(params.p));
  const algorithm = seq(oid(OID.pbes2), seq(
    seq(oid(OID.scrypt), scryptParams),
    seq(oid(OID.aes256cbc), octets(iv)),
  ));
  return toPem(seq(algorithm, octets(encrypted)), "ENCRYPTED PRIVATE KEY");
}

/** Decrypts an encrypted PKCS#8 PEM (any wrapping OpenSSL reads, old and new) or reads a plain one. */
export function unwrapPrivateKey(pem: string, passphrase: string): KeyObject {
  return createPrivateKey({ key: pem, format: "pem", passphrase });
}

const PRF_HASHES: Readonly<Record<string, string>> = {
  hmacWithSHA1: "sha1", hmacWithSHA256: "sha256", hmacWithSHA384: "sha384", hmacWithSHA512: "sha512",
};
const CIPHER_KEY_BYTES: Readonly<Record<string, number>> = { "aes-128-cbc": 16, "aes-192-cbc": 24, "aes-256-cbc": 32 };

/**
 * The same as unwrapPrivateKey, but the key derivation (scrypt or PBKDF2, a good part of a
 * second each at our parameters) runs on libuv's thread pool: `serve` unwraps its keys side by
 * side and keeps answering meanwhile. What OpenSSL would read the same way (PBES2 with scrypt or
 * PBKDF2, AES-CBC) is decrypted here; anything else goes to unwrapPrivateKey. A wrong passphrase
 * throws, as there.
 */
export async function unwrapPrivateKeyAsync(pem: string, passphrase: string): Promise<KeyObject> {
  const w = wrappingOf(pem);
  const keyBytes = w.kind === "scrypt" || w.kind === "pbkdf2" ? CIPHER_KEY_BYTES[w.cipher] : undefined;
  const prf = w.kind === "pbkdf2" ? PRF_HASHES[w.prf] : undefined;
  if (!keyBytes || (w.kind === "pbkdf2" && !prf)) return unwrapPrivateKey(pem, passphrase);
  const der = fromPem(pem, "ENCRYPTED PRIVATE KEY");
  const what = "encrypted private key";
  const [alg, data] = [...children(der, readTlv(der, 0, what), what)];
  const [, pbes2] = alg ? [...children(der, alg, what)] : [];
  const [kdf, enc] = pbes2 ? [...children(der, pbes2, what)] : [];
  const [, kdfParams] = kdf ? [...children(der, kdf, what)] : [];
  const [, iv] = enc ? [...children(der, enc, what)] : [];
  const [salt] = kdfParams ? [...children(der, kdfParams, what)] : [];
  if (!data || data.tag !== 0x04 || !iv || iv.tag !== 0x04 || !salt || salt.tag !== 0x04) return unwrapPrivateKey(pem, passphrase);
  const pass = Buffer.from(passphrase, "utf8");
  const saltBytes = der.subarray(salt.start, salt.end);
  const derived = await new Promise<Buffer>((resolve, reject) => {
    const done = (e: Error | null, k: Buffer): void => (e ? reject(e) : resolve(k));
    if (w.kind === "scrypt") scrypt(pass, saltBytes, keyBytes, { N: w.N, r: w.r, p: w.p, maxmem: 256 * w.N * w.r + 1024 * 1024 }, done);
    else if (w.kind === "pbkdf2") pbkdf2(pass, saltBytes, w.iterations, keyBytes, prf ?? "sha1", done);
  });
  try {
    const decipher = createDecipheriv(w.kind === "scrypt" || w.kind === "pbkdf2" ? w.cipher : "", derived, der.subarray(iv.start, iv.end));
    const plain = Buffer.concat([decipher.update(der.subarray(data.start, data.end)), decipher.final()]);
    try {
      return createPrivateKey({ key: plain, format: "der", type: "pkcs8" });
    } finally {
      plain.fill(0);
    }
  } finally {
    derived.fill(0);
  }
}

/** How the private key in `pem` is protected, read from its AlgorithmIdentifier without decrypting. */
export function wrappingOf(pem: string): Wrapping {
  if (!/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(pem)) return { kind: "none" };
  const der = fromPem(pem, "ENCRYPTED PRIVATE KEY");
  const what = "encrypted private key";
  const top = readTlv(der, 0, what);
  const [alg] = [...children(der, top, what)];
  if (!alg) return { kind: "other", oid: "" };
  const [schemeOid, pbes2] = [...children(der, alg, what)];
  const scheme = schemeOid ? readOid(der, schemeOid) : "";
  if (scheme !== OID.pbes2 || !pbes2) return { kind: "other", oid: scheme };
  const [kdf, enc] = [...children(der, pbes2, what)];
  if (!kdf || !enc) return { kind: "other", oid: scheme };
  const [kdfOid, kdfParams] = [...children(der, kdf, what)];
  const [encOid] = [...children(der, enc, what)];
  const cipher = encOid ? CIPHER_NAMES[readOid(der, encOid)] ?? readOid(der, encOid) : "";
  const kdfName = kdfOid ? readOid(der, kdfOid) : "";
  if (!kdfParams) return { kind: "other", oid: kdfName };
  const params = [...children(der, kdfParams, what)];
  if (kdfName === OID.scrypt) {
    const [, n, r, p] = params;
    if (!n || !r || !p) return { kind: "other", oid: kdfName };
    return { kind: "scrypt", N: readUint(der, n), r: readUint(der, r), p: readUint(der, p), cipher };
  }
  if (kdfName === OID.pbkdf2) {
    // salt, iterationCount, keyLength OPTIONAL, prf DEFAULT hmacWithSHA1
    const iterations = params[1] ? readUint(der, params[1]) : 0;
    const prfAlg = params.slice(2).find((t) => t.tag === 0x30);
    const prfOid = prfAlg ? [...children(der, prfAlg, what)][0] : undefined;
    const prf = prfOid ? PRF_NAMES[readOid(der, prfOid)] ?? readOid(der, prfOid) : "hmacWithSHA1";
    return { kind: "pbkdf2", iterations, prf, cipher };
  }
  return { kind: "other", oid: kdfName };
}

/**
 * True when `w` is at least as strong as what `wrapPrivateKey` writes: scrypt with at least its
 * memory and work, or PBKDF2-HMAC-SHA-256/384/512 with at least 600,000 iterations; AES-256 either way.
 */
export function isStrongWrapping(w: Wrapping): boolean {
  if (w.kind === "scrypt") {
    return w.cipher === "aes-256-cbc" && w.N * w.r >= SCRYPT_PARAMS.N * SCRYPT_PARAMS.r && w.N * w.r * w.p >= SCRYPT_PARAMS.N * SCRYPT_PARAMS.r * SCRYPT_PARAMS.p;
  }
  if (w.kind === "pbkdf2") return w.cipher === "aes-256-cbc" && w.prf !== "hmacWithSHA1" && w.iterations >= PBKDF2_MIN_ITERATIONS;
  return false;
}

/** A short human description of a wrapping, for the rewrap command and warnings. */
export function describeWrapping(w: Wrapping): string {
  switch (w.kind) {
    case "none": return "not encrypted";
    case "scrypt": return `scrypt N=2^${Math.log2(w.N)} r=${w.r} p=${w.p}, ${w.cipher}`;
    case "pbkdf2": return `PBKDF2 ${w.prf} ${w.iterations.toLocaleString("en")} iterations, ${w.cipher}`;
    case "other": return `unknown scheme ${w.oid}`;
  }
}

function seq(...parts: Uint8Array[]): Buffer {
  return tlv(0x30, ...parts);
}

function octets(b: Uint8Array): Buffer {
  return tlv(0x04, b);
}

function integer(n: number): Buffer {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  if (bytes.length === 0 || (bytes[0] ?? 0) & 0x80) bytes.unshift(0);
  return tlv(0x02, Buffer.from(bytes));
}

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  const out: number[] = [a * 40 + b];
  for (const arc of rest) {
    const sub: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) sub.unshift((v & 0x7f) | 0x80);
    out.push(...sub);
  }
  return tlv(0x06, Buffer.from(out));
}

function readOid(der: Uint8Array, t: Tlv): string {
  if (t.tag !== 0x06) return "";
  const b = der.subarray(t.start, t.end);
  const first = b[0] ?? 0;
  const arcs = [Math.min(2, Math.floor(first / 40)), first - Math.min(2, Math.floor(first / 40)) * 40];
  let v = 0;
  for (const byte of b.subarray(1)) {
    v = v * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) { arcs.push(v); v = 0; }
  }
  return arcs.join(".");
}

/** A non-negative INTEGER that fits a JavaScript number (else 0, which no check takes as strong). */
function readUint(der: Uint8Array, t: Tlv): number {
  if (t.tag !== 0x02) return 0;
  let v = 0;
  for (const byte of der.subarray(t.start, t.end)) v = v * 256 + byte;
  return Number.isSafeInteger(v) ? v : 0;
}
