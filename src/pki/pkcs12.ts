/**
 * PKCS#12 (RFC 7292) files, .p12 / .pfx: written for `shomei export`, read for `shomei import`.
 *
 * Writing has two profiles:
 * - `modern` (what OpenSSL 3 writes by default): the key in a pkcs8ShroudedKeyBag and the
 *   certificates in an EncryptedData, both PBES2 = PBKDF2-HMAC-SHA-256 + AES-256-CBC, and an
 *   HMAC-SHA-256 MAC whose key comes from the PKCS#12 KDF with SHA-256.
 * - `compatible`: pbeWithSHAAnd3-KeyTripleDES-CBC for both and an HMAC-SHA-1 MAC, for Windows
 *   Server 2016 / macOS 12 and older, which refuse AES-protected files (with a misleading
 *   "wrong password").
 *
 * Reading accepts those, `openssl pkcs12 -export -legacy` (certificates in
 * pbeWithSHAAnd40BitRC2-CBC, see rc2.ts), NSS's pk12util (BER with indefinite lengths, PBES2
 * with AES-128 for the certificates, 600000 iterations), unencrypted SafeContents and PBMAC1
 * (RFC 9579). The MAC is checked before anything is decrypted.
 *
 * Passwords: the PKCS#12 KDF (MAC key, PKCS#12 PBE) takes the password as a BMPString
 * (UTF-16BE) followed by two zero bytes; PBKDF2 (PBES2, PBMAC1) takes its UTF-8 bytes, as
 * OpenSSL and NSS do.
 *
 * The ASN.1 is read with asn1js directly (not @peculiar/asn1-schema): NSS writes BER with
 * indefinite lengths and constructed OCTET STRINGs at several levels, and each of those has to
 * be read as the same bytes. Writing uses asn1js too, DER throughout.
 */
import * as crypto from "node:crypto";
import type { KeyObject } from "node:crypto";
import * as asn1js from "asn1js";
import { encoded as encodedBlock } from "./assemble.js";
import { isShomeiError, ShomeiError } from "../i18n/errors.js";
import { checkPkcs8 } from "./spki.js";
import { berToDer } from "./der.js";
import { rc2CbcDecrypt } from "./rc2.js";
import { iterateSha1, iterateSha256 } from "./sha_iterate.js";
import { derBytes, explicit0, int, nul, octets, oid, seq, type Block } from "./asn1_encoded.js";
import { addToEachBlock, stretch } from "./pkcs12_kdf_steps.js";

export type Pkcs12Profile = "modern" | "compatible";

export interface Pkcs12Input {
  readonly privateKey: KeyObject;
  /** DER of the leaf certificate. */
  readonly certificate: Uint8Array;
  /** DER of the CA certificates, issuing CA first, root last. */
  readonly chain: readonly Uint8Array[];
  readonly password: string;
  readonly profile: Pkcs12Profile;
  readonly friendlyName?: string;
  /**
   * PBKDF2 / PKCS#12 KDF iterations, the same for the key, the certificates and the MAC.
   * Default: DEFAULT_ITERATIONS[profile]. Tests may pass a low count.
   */
  readonly iterations?: number;
}

export interface Pkcs12Bag {
  readonly der: Buffer;
  readonly friendlyName?: string;
  readonly localKeyId?: Buffer;
}

export interface Pkcs12Contents {
  readonly privateKey?: KeyObject;
  readonly keyLocalKeyId?: Buffer;
  readonly keyFriendlyName?: string;
  /** In the order they appear in the file. */
  readonly certificates: readonly Pkcs12Bag[];
  /**
   * What protected the key and the certificates, each once, in the order met: e.g.
   * "PBES2/AES-256-CBC/PBKDF2-SHA256", "PBE-SHA1-3DES", "PBE-SHA1-RC2-40". Unencrypted
   * contents add nothing.
   */
  readonly algorithms: readonly string[];
  /** e.g. "HMAC-SHA256", "HMAC-SHA1", "PBMAC1/HMAC-SHA256/PBKDF2-SHA256"; absent: no MAC. */
  readonly macAlgorithm?: string;
}

/**
 * Default iteration counts. Each derivation (the MAC, the key, the certificates) is a separate
 * way to test a password guess, so all three use the same count.
 * - modern: 200000. PBKDF2 twice (native) and the PKCS#12 KDF once (SHA-256 in JavaScript):
 *   an export takes about 0.25 s here (0.35 s with the machine busy). It stays under .NET's
 *   default loader limits (300000 per derivation, 1000000 in all), which refuse NSS's
 *   600000-iteration files.
 * - compatible: 100000. The PKCS#12 KDF with SHA-1 runs seven times the count (3DES key and IV
 *   for the key, the same for the certificates, the MAC): about 0.25 s here.
 */
export const DEFAULT_ITERATIONS: Readonly<Record<Pkcs12Profile, number>> = { modern: 200_000, compatible: 100_000 };

/** The most iterations one derivation in a file may ask for; more is PKCS12_UNSUPPORTED. */
export const MAX_ITERATIONS = 10_000_000;
/**
 * The most work a whole file may cost to read, in hash iterations (count × output blocks,
 * summed over every derivation, wrong-password retries included): about 10 s at worst here.
 * NSS's 600000-iteration files cost 1800000.
 */
const MAX_TOTAL_WORK = 10_000_000;
/** How deep safeContentsBags may nest. */
const MAX_NESTING = 4;

// ---- object identifiers ------------------------------------------------------------------

const OID = {
  data: "1.2.840.113549.1.7.1",
  signedData: "1.2.840.113549.1.7.2",
  envelopedData: "1.2.840.113549.1.7.3",
  encryptedData: "1.2.840.113549.1.7.6",
  keyBag: "1.2.840.113549.1.12.10.1.1",
  pkcs8ShroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  certBag: "1.2.840.113549.1.12.10.1.3",
  safeContentsBag: "1.2.840.113549.1.12.10.1.6",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  pbmac1: "1.2.840.113549.1.5.14",
  pbeSha1TripleDes: "1.2.840.113549.1.12.1.3",
  rc2Cbc: "1.2.840.113549.3.2",
} as const;

interface Digest {
  readonly label: string;
  /** node:crypto's name. */
  readonly node: string;
  readonly oid: string;
  readonly hmacOid: string;
  /** Output and block size in bytes (u and v of RFC 7292 B.2). */
  readonly u: number;
  readonly v: number;
}

const DIGESTS: readonly Digest[] = [
  { label: "SHA1", node: "sha1", oid: "1.3.14.3.2.26", hmacOid: "1.2.840.113549.2.7", u: 20, v: 64 },
  { label: "SHA224", node: "sha224", oid: "2.16.840.1.101.3.4.2.4", hmacOid: "1.2.840.113549.2.8", u: 28, v: 64 },
  { label: "SHA256", node: "sha256", oid: "2.16.840.1.101.3.4.2.1", hmacOid: "1.2.840.113549.2.9", u: 32, v: 64 },
  { label: "SHA384", node: "sha384", oid: "2.16.840.1.101.3.4.2.2", hmacOid: "1.2.840.113549.2.10", u: 48, v: 128 },
  { label: "SHA512", node: "sha512", oid: "2.16.840.1.101.3.4.2.3", hmacOid: "1.2.840.113549.2.11", u: 64, v: 128 },
  { label: "SHA512-224", node: "sha512-224", oid: "2.16.840.1.101.3.4.2.5", hmacOid: "1.2.840.113549.2.12", u: 28, v: 128 },
  { label: "SHA512-256", node: "sha512-256", oid: "2.16.840.1.101.3.4.2.6", hmacOid: "1.2.840.113549.2.13", u: 32, v: 128 },
];
const SHA1 = DIGESTS[0]!;
const SHA256 = DIGESTS[2]!;

interface BlockCipher {
  readonly label: string;
  readonly node: string;
  readonly keyLength: number;
  readonly ivLength: number;
}

/** Ciphers PBES2 may name (RFC 8018 B.2), RC2 aside. */
const PBES2_CIPHERS: Readonly<Record<string, BlockCipher>> = {
  "2.16.840.1.101.3.4.1.2": { label: "AES-128-CBC", node: "aes-128-cbc", keyLength: 16, ivLength: 16 },
  "2.16.840.1.101.3.4.1.22": { label: "AES-192-CBC", node: "aes-192-cbc", keyLength: 24, ivLength: 16 },
  "2.16.840.1.101.3.4.1.42": { label: "AES-256-CBC", node: "aes-256-cbc", keyLength: 32, ivLength: 16 },
  "1.2.840.113549.3.7": { label: "3DES-CBC", node: "des-ede3-cbc", keyLength: 24, ivLength: 8 },
};
const AES_256_CBC_OID = "2.16.840.1.101.3.4.1.42";

/** PKCS#12 PBE (RFC 7292 appendix C), all with SHA-1. */
const PKCS12_PBE: Readonly<Record<string, { label: string; keyLength: number; cipher: "3des" | "2des" | "rc2" | "rc4"; rc2Bits?: number }>> = {
  "1.2.840.113549.1.12.1.1": { label: "PBE-SHA1-RC4-128", keyLength: 16, cipher: "rc4" },
  "1.2.840.113549.1.12.1.2": { label: "PBE-SHA1-RC4-40", keyLength: 5, cipher: "rc4" },
  "1.2.840.113549.1.12.1.3": { label: "PBE-SHA1-3DES", keyLength: 24, cipher: "3des" },
  "1.2.840.113549.1.12.1.4": { label: "PBE-SHA1-2DES", keyLength: 16, cipher: "2des" },
  "1.2.840.113549.1.12.1.5": { label: "PBE-SHA1-RC2-128", keyLength: 16, cipher: "rc2", rc2Bits: 128 },
  "1.2.840.113549.1.12.1.6": { label: "PBE-SHA1-RC2-40", keyLength: 5, cipher: "rc2", rc2Bits: 40 },
};

/** Digests a MAC may name that we refuse: named in the message. */
const OLD_DIGESTS: Readonly<Record<string, string>> = { "1.2.840.113549.2.2": "MD2", "1.2.840.113549.2.5": "MD5" };

/** PKCS#5 v1.5 (PBES1): named, never decrypted. */
const PBES1: Readonly<Record<string, string>> = {
  "1.2.840.113549.1.5.1": "PBES1/MD2-DES",
  "1.2.840.113549.1.5.3": "PBES1/MD5-DES",
  "1.2.840.113549.1.5.4": "PBES1/MD2-RC2-64",
  "1.2.840.113549.1.5.6": "PBES1/MD5-RC2-64",
  "1.2.840.113549.1.5.10": "PBES1/SHA1-DES",
  "1.2.840.113549.1.5.11": "PBES1/SHA1-RC2-64",
};

// ---- errors --------------------------------------------------------------------------------

const malformed = (reason: string, cause?: unknown): ShomeiError =>
  new ShomeiError("PKCS12_MALFORMED", { reason }, cause === undefined ? undefined : { cause });
const unsupported = (algorithm: string): ShomeiError => new ShomeiError("PKCS12_UNSUPPORTED", { algorithm });
const wrongPassword = (): ShomeiError => new ShomeiError("PKCS12_PASSWORD_WRONG");

const isCode = (e: unknown, code: ShomeiError["code"]): boolean => e instanceof ShomeiError && e.code === code;

// ---- the PKCS#12 key derivation (RFC 7292 appendix B.2) ----------------------------------

/** node:crypto's one-shot hash where there is one (Node ≥ 20.12): faster in a loop. */
const hasOneShot = typeof (crypto as { hash?: unknown }).hash === "function";
const digestOf = (alg: string, data: Uint8Array): Buffer =>
  hasOneShot ? crypto.hash(alg, data, "buffer") : crypto.createHash(alg).update(data).digest();

/** The digest applied `times` more times to its own output. Exported for its test. */
export function iterateDigest(hashName: string, first: Buffer, times: number): Buffer {
  if (hashName === "sha256" && first.length === 32) return Buffer.from(iterateSha256(first, times));
  if (hashName === "sha1" && first.length === 20) return Buffer.from(iterateSha1(first, times));
  let a = first;
  for (let r = 0; r < times; r++) a = digestOf(hashName, a);
  return a;
}

/**
 * RFC 7292 B.2: `n` bytes for purpose `id` (1 = key, 2 = IV, 3 = MAC key). `password` is
 * already the BMPString with its two trailing zero bytes. Exported for its known-answer test.
 */
export function pkcs12Kdf(hashName: string, password: Uint8Array, salt: Uint8Array, iterations: number, id: 1 | 2 | 3, n: number): Buffer {
  const d = DIGESTS.find((x) => x.node === hashName);
  if (!d) throw new RangeError(`no PKCS#12 KDF for ${hashName}`);
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw new RangeError("iterations must be at least 1");
  const { u, v } = d;
  const dBlock = Buffer.alloc(v, id);
  const i = Buffer.concat([stretch(salt, v), stretch(password, v)]);
  const blocks = Math.ceil(n / u);
  const out = Buffer.alloc(blocks * u);
  for (let b = 0; b < blocks; b++) {
    const a = iterateDigest(d.node, digestOf(d.node, Buffer.concat([dBlock, i])), iterations - 1);
    a.copy(out, b * u);
    if (b + 1 === blocks) break;
    addToEachBlock(i, a, v);
  }
  return out.subarray(0, n);
}

/** The password as the PKCS#12 KDF takes it: BMPString (UTF-16BE) and two zero bytes. */
function bmpPassword(password: string): Buffer {
  const le = Buffer.from(password + "\u0000", "utf16le");
  return le.swap16();
}

// ---- asn1js: writing ------------------------------------------------------------------------

const der = (b: Block): Buffer => Buffer.from(derBytes(b));

/** A DER SET OF: the elements sorted by their encodings (X.690 11.6). */
function setOf(elements: readonly Block[]): Block {
  const encoded = elements.map(der).sort((a, b) => Buffer.compare(a, b));
  return new asn1js.Set({ value: encoded.map((e) => encodedBlock(e)) });
}

function contentInfo(type: string, content: Block): Block {
  return seq(oid(type), explicit0(content));
}

// ---- asn1js: reading ------------------------------------------------------------------------

const UNIVERSAL = 1;
const CONTEXT = 3;

function parse(bytes: Uint8Array, what: string): Block {
  let r: ReturnType<typeof asn1js.fromBER>;
  try {
    // asn1js decodes strings while it parses: an odd-length BMPString (a friendlyName) throws a RangeError.
    r = asn1js.fromBER(bytes, { parseEmbedded: false });
  } catch (e) {
    throw malformed(`${what}: ${e instanceof Error ? e.message : "not ASN.1"}`, e);
  }
  if (r.offset === -1 || r.result.error) throw malformed(`${what}: ${r.result.error || "not ASN.1"}`);
  if (r.offset !== bytes.length) throw malformed(`${what}: ${bytes.length - r.offset} extra bytes after the end`);
  return r.result;
}

function isTag(b: Block, tagClass: number, tagNumber: number): boolean {
  return b.idBlock.tagClass === tagClass && b.idBlock.tagNumber === tagNumber;
}

/** The elements of a SEQUENCE (or SET, or constructed context tag). */
function elements(b: Block | undefined, what: string, tagClass = UNIVERSAL, tagNumber = 16): Block[] {
  if (!b || !isTag(b, tagClass, tagNumber) || !b.idBlock.isConstructed) throw malformed(`${what}: expected ${tagClass === UNIVERSAL ? (tagNumber === 17 ? "SET" : "SEQUENCE") : `[${tagNumber}]`}`);
  const value = (b.valueBlock as unknown as { value?: unknown }).value;
  if (!Array.isArray(value)) throw malformed(`${what}: empty`);
  return value as Block[];
}

function readOid(b: Block | undefined, what: string): string {
  if (!(b instanceof asn1js.ObjectIdentifier)) throw malformed(`${what}: expected an OBJECT IDENTIFIER`);
  return b.getValue();
}

function readInt(b: Block | undefined, what: string): bigint {
  if (!(b instanceof asn1js.Integer)) throw malformed(`${what}: expected an INTEGER`);
  return b.toBigInt();
}

/**
 * The bytes of an OCTET STRING, also [n] IMPLICIT, primitive or constructed (BER: the
 * concatenation of its parts).
 */
function readOctets(b: Block | undefined, what: string, tagClass = UNIVERSAL, tagNumber = 4, depth = 0): Buffer {
  if (!b || !isTag(b, tagClass, tagNumber)) throw malformed(`${what}: expected an OCTET STRING`);
  if (!b.idBlock.isConstructed) {
    const view = (b.valueBlock as unknown as { valueHexView?: Uint8Array }).valueHexView;
    if (!(view instanceof Uint8Array)) throw malformed(`${what}: expected an OCTET STRING`);
    return Buffer.from(view);
  }
  if (depth > 8) throw malformed(`${what}: OCTET STRING nested too deep`);
  const parts = (b.valueBlock as unknown as { value?: Block[] }).value ?? [];
  return Buffer.concat(parts.map((p) => readOctets(p, what, UNIVERSAL, 4, depth + 1)));
}

/** The single element inside an [0] EXPLICIT. */
function explicitContent(b: Block | undefined, what: string): Block {
  const inner = elements(b, what, CONTEXT, 0);
  if (inner.length !== 1) throw malformed(`${what}: [0] should hold one element`);
  return inner[0]!;
}

/** The bytes of an element as they are in the input. */
const raw = (b: Block): Buffer => Buffer.from(b.valueBeforeDecodeView);

interface AlgorithmId {
  readonly oid: string;
  readonly params?: Block;
}

function readAlgorithm(b: Block | undefined, what: string): AlgorithmId {
  const [id, params] = elements(b, what);
  return { oid: readOid(id, what), params: params === undefined || params instanceof asn1js.Null ? undefined : params };
}

function readIterations(b: Block | undefined, what: string): number {
  const n = readInt(b, what);
  if (n < 1n) throw malformed(`${what}: iteration count ${n}`);
  if (n > BigInt(MAX_ITERATIONS)) throw unsupported(`${what} with ${n} iterations (at most ${MAX_ITERATIONS})`);
  return Number(n);
}

// ---- writing ---------------------------------------------------------------------------------

function pbes2Algorithm(salt: Buffer, iterations: number, iv: Buffer): Block {
  const kdf = seq(oid(OID.pbkdf2), seq(octets(salt), int(iterations), seq(oid(SHA256.hmacOid), nul())));
  return seq(oid(OID.pbes2), seq(kdf, seq(oid(AES_256_CBC_OID), octets(iv))));
}

/** Encrypts with the profile's scheme; returns the AlgorithmIdentifier and the ciphertext. */
function encrypt(profile: Pkcs12Profile, password: string, iterations: number, plain: Uint8Array): { algorithm: Block; data: Buffer } {
  if (profile === "modern") {
    const salt = crypto.randomBytes(16);
    const iv = crypto.randomBytes(16);
    const key = crypto.pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, 32, "sha256");
    const c = crypto.createCipheriv("aes-256-cbc", key, iv);
    return { algorithm: pbes2Algorithm(salt, iterations, iv), data: Buffer.concat([c.update(plain), c.final()]) };
  }
  const salt = crypto.randomBytes(8);
  const bmp = bmpPassword(password);
  const key = pkcs12Kdf("sha1", bmp, salt, iterations, 1, 24);
  const iv = pkcs12Kdf("sha1", bmp, salt, iterations, 2, 8);
  const c = crypto.createCipheriv("des-ede3-cbc", key, iv);
  return { algorithm: seq(oid(OID.pbeSha1TripleDes), seq(octets(salt), int(iterations))), data: Buffer.concat([c.update(plain), c.final()]) };
}

function bagAttributes(localKeyId: Buffer | undefined, friendlyName: string | undefined): Block[] {
  const attrs: Block[] = [];
  if (friendlyName !== undefined) attrs.push(seq(oid(OID.friendlyName), setOf([new asn1js.BmpString({ value: friendlyName })])));
  if (localKeyId !== undefined) attrs.push(seq(oid(OID.localKeyId), setOf([octets(localKeyId)])));
  return attrs.length === 0 ? [] : [setOf(attrs)];
}

function certBag(certDer: Uint8Array, attrs: Block[]): Block {
  return seq(oid(OID.certBag), explicit0(seq(oid(OID.x509Certificate), explicit0(octets(certDer)))), ...attrs);
}

/**
 * A PKCS#12 file holding the key, the leaf certificate and the CA certificates. The key bag
 * and the leaf's bag share a localKeyId (SHA-1 of the leaf) and the friendlyName if given.
 */
export function encodePkcs12(input: Pkcs12Input): Buffer {
  const profile = input.profile;
  if (profile !== "modern" && profile !== "compatible") throw new RangeError(`unknown PKCS#12 profile ${String(profile)}`);
  const iterations = input.iterations ?? DEFAULT_ITERATIONS[profile];
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new RangeError(`iterations must be 1..${MAX_ITERATIONS}`);
  }
  if (input.privateKey.type !== "private") throw new RangeError("privateKey must be a private key");
  const pkcs8 = input.privateKey.export({ format: "der", type: "pkcs8" });
  const localKeyId = crypto.createHash("sha1").update(input.certificate).digest();
  const attrs = bagAttributes(localKeyId, input.friendlyName);

  // Certificates: the leaf (with the attributes), then the chain, in one encrypted SafeContents.
  const certs = seq(certBag(input.certificate, attrs), ...input.chain.map((c) => certBag(c, [])));
  const sealedCerts = encrypt(profile, input.password, iterations, der(certs));
  const encryptedData = seq(
    int(0),
    seq(oid(OID.data), sealedCerts.algorithm, new asn1js.Primitive({ idBlock: { tagClass: CONTEXT, tagNumber: 0 }, valueHex: sealedCerts.data })),
  );

  // The key in a pkcs8ShroudedKeyBag, in a plain SafeContents (as OpenSSL and NSS do).
  const sealedKey = encrypt(profile, input.password, iterations, pkcs8);
  const keyBag = seq(oid(OID.pkcs8ShroudedKeyBag), explicit0(seq(sealedKey.algorithm, octets(sealedKey.data))), ...attrs);
  const keyContents = seq(keyBag);

  const authSafe = der(seq(contentInfo(OID.encryptedData, encryptedData), contentInfo(OID.data, octets(der(keyContents)))));

  const mac = profile === "modern" ? SHA256 : SHA1;
  const macSalt = crypto.randomBytes(profile === "modern" ? 16 : 8);
  const macKey = pkcs12Kdf(mac.node, bmpPassword(input.password), macSalt, iterations, 3, mac.u);
  const digest = crypto.createHmac(mac.node, macKey).update(authSafe).digest();
  const macData = seq(seq(seq(oid(mac.oid), nul()), octets(digest)), octets(macSalt), int(iterations));

  return der(seq(int(3), contentInfo(OID.data, octets(authSafe)), macData));
}

// ---- reading ---------------------------------------------------------------------------------

/** One way of turning the password into bytes. */
interface Secret {
  /** For the PKCS#12 KDF. */
  readonly bmp: Buffer;
  /** For PBKDF2. */
  readonly utf8: Buffer;
}

/**
 * The encodings to try, the standard one first. OpenSSL before 1.1 turned each byte of a
 * UTF-8 password into one BMP character; an empty password may also mean "no password at
 * all" (no bytes, not even the two zeros).
 */
function secretsFor(password: string): Secret[] {
  const utf8 = Buffer.from(password, "utf8");
  const list: Secret[] = [{ bmp: bmpPassword(password), utf8 }];
  if (utf8.length !== password.length) {
    const legacy = Buffer.alloc(2 * utf8.length + 2);
    utf8.forEach((b, i) => { legacy[2 * i + 1] = b; });
    list.push({ bmp: legacy, utf8 });
  }
  if (password === "") list.push({ bmp: Buffer.alloc(0), utf8 });
  return list;
}

interface ReadState {
  /** Candidate encodings; one once the MAC (or a first decryption) has told which. */
  secrets: Secret[];
  macVerified: boolean;
  work: number;
  readonly algorithms: string[];
  privateKey?: KeyObject;
  keyLocalKeyId?: Buffer;
  keyFriendlyName?: string;
  readonly certificates: Pkcs12Bag[];
}

/** Counts `units` (iterations × output blocks) against MAX_TOTAL_WORK before they are spent. */
function spend(state: ReadState, units: number): void {
  state.work += units;
  if (state.work > MAX_TOTAL_WORK) throw unsupported(`key derivations costing more than ${MAX_TOTAL_WORK} iterations in all`);
}

function noteAlgorithm(state: ReadState, label: string): void {
  if (!state.algorithms.includes(label)) state.algorithms.push(label);
}

function digestByOid(o: string): Digest | undefined {
  return DIGESTS.find((d) => d.oid === o);
}

function hmacDigestByOid(o: string): Digest | undefined {
  return DIGESTS.find((d) => d.hmacOid === o);
}

interface Pbkdf2Params {
  readonly salt: Buffer;
  readonly iterations: number;
  readonly keyLength?: number;
  readonly prf: Digest;
}

function readPbkdf2(alg: AlgorithmId, what: string): Pbkdf2Params {
  if (alg.oid !== OID.pbkdf2) throw unsupported(`${what} key derivation ${alg.oid}`);
  const [saltNode, iterNode, ...rest] = elements(alg.params, `${what} PBKDF2 parameters`);
  if (!(saltNode instanceof asn1js.OctetString)) throw unsupported(`${what} PBKDF2 with a salt that is not an OCTET STRING`);
  const salt = readOctets(saltNode, `${what} PBKDF2 salt`);
  const iterations = readIterations(iterNode, `${what} PBKDF2`);
  let keyLength: number | undefined;
  let prf = SHA1; // RFC 8018: hmacWithSHA1 when absent
  for (const r of rest) {
    if (r instanceof asn1js.Integer) {
      const n = r.toBigInt();
      if (n < 1n || n > 256n) throw malformed(`${what}: PBKDF2 key length ${n}`);
      keyLength = Number(n);
    } else {
      const p = readAlgorithm(r, `${what} PBKDF2 PRF`);
      const d = hmacDigestByOid(p.oid);
      if (!d) throw unsupported(`${what} PBKDF2 with PRF ${p.oid}`);
      prf = d;
    }
  }
  return { salt, iterations, keyLength, prf };
}

/** A decryption that may be tried with each candidate password encoding. */
type Decrypt = (secret: Secret) => Buffer;

/** How an AlgorithmIdentifier decrypts: its name, the work one try costs, the decryption. */
function decrypterFor(alg: AlgorithmId, data: Buffer, what: string): { label: string; cost: number; decrypt: Decrypt } {
  if (alg.oid === OID.pbes2) {
    const [kdfNode, schemeNode] = elements(alg.params, `${what} PBES2 parameters`);
    const kdf = readPbkdf2(readAlgorithm(kdfNode, `${what} PBES2 key derivation`), what);
    const scheme = readAlgorithm(schemeNode, `${what} PBES2 encryption scheme`);
    if (scheme.oid === OID.rc2Cbc) {
      // RC2-CBC-Parameter ::= SEQUENCE { rc2ParameterVersion INTEGER OPTIONAL, iv OCTET STRING }
      const ps = elements(scheme.params, `${what} RC2 parameters`);
      const version = ps.length > 1 ? Number(readInt(ps[0], `${what} RC2 version`)) : 32;
      const bits = version === 160 ? 40 : version === 120 ? 64 : version === 58 ? 128 : version >= 256 && version <= 1024 ? version : 32;
      const iv = readOctets(ps[ps.length - 1], `${what} RC2 IV`);
      const keyLength = kdf.keyLength ?? Math.ceil(bits / 8);
      if (iv.length !== 8 || keyLength > 128) throw malformed(`${what}: RC2 parameters`);
      const label = `PBES2/RC2-${bits}-CBC/PBKDF2-${kdf.prf.label}`;
      return {
        label,
        cost: kdf.iterations * Math.ceil(keyLength / kdf.prf.u),
        decrypt: (s) => rc2CbcDecrypt(crypto.pbkdf2Sync(s.utf8, kdf.salt, kdf.iterations, keyLength, kdf.prf.node), bits, iv, data),
      };
    }
    const cipher = PBES2_CIPHERS[scheme.oid];
    if (!cipher) throw unsupported(`PBES2 with cipher ${scheme.oid === "1.3.14.3.2.7" ? "DES-CBC" : scheme.oid}`);
    const iv = readOctets(scheme.params, `${what} ${cipher.label} IV`);
    if (iv.length !== cipher.ivLength) throw malformed(`${what}: ${cipher.label} IV of ${iv.length} bytes`);
    if (kdf.keyLength !== undefined && kdf.keyLength !== cipher.keyLength) throw malformed(`${what}: PBKDF2 key length ${kdf.keyLength} for ${cipher.label}`);
    return {
      label: `PBES2/${cipher.label}/PBKDF2-${kdf.prf.label}`,
      cost: kdf.iterations * Math.ceil(cipher.keyLength / kdf.prf.u),
      decrypt: (s) => {
        const key = crypto.pbkdf2Sync(s.utf8, kdf.salt, kdf.iterations, cipher.keyLength, kdf.prf.node);
        const d = crypto.createDecipheriv(cipher.node, key, iv);
        return Buffer.concat([d.update(data), d.final()]);
      },
    };
  }
  const pbe = PKCS12_PBE[alg.oid];
  if (pbe) {
    if (pbe.cipher === "rc4") throw unsupported(pbe.label);
    const [saltNode, iterNode] = elements(alg.params, `${what} PKCS#12 PBE parameters`);
    const salt = readOctets(saltNode, `${what} PBE salt`);
    const iterations = readIterations(iterNode, `${what} ${pbe.label}`);
    const ivLength = 8;
    return {
      label: pbe.label,
      cost: iterations * (Math.ceil(pbe.keyLength / SHA1.u) + 1), // key blocks and one IV block
      decrypt: (s) => {
        const key = pkcs12Kdf("sha1", s.bmp, salt, iterations, 1, pbe.keyLength);
        const iv = pkcs12Kdf("sha1", s.bmp, salt, iterations, 2, ivLength);
        if (pbe.cipher === "rc2") return rc2CbcDecrypt(key, pbe.rc2Bits ?? 128, iv, data);
        const d = crypto.createDecipheriv(pbe.cipher === "3des" ? "des-ede3-cbc" : "des-ede-cbc", key, iv);
        return Buffer.concat([d.update(data), d.final()]);
      },
    };
  }
  throw unsupported(PBES1[alg.oid] ?? `encryption ${alg.oid}`);
}

/**
 * Decrypts and reads the plaintext. Without a verified MAC each candidate password encoding
 * is tried, and "decrypts, then reads" is what tells the right one; a failure of either is a
 * wrong password. With a verified MAC, a plaintext that does not read is a damaged file.
 */
function decryptAndRead<T>(alg: AlgorithmId, data: Buffer, state: ReadState, what: string, read: (plain: Buffer) => T): T {
  const d = decrypterFor(alg, data, what);
  noteAlgorithm(state, d.label);
  for (const secret of state.secrets) {
    spend(state, d.cost);
    let plain: Buffer;
    try {
      plain = d.decrypt(secret);
    } catch {
      continue; // bad padding (node:crypto's "bad decrypt", Rc2PaddingError): not this password
    }
    try {
      const result = read(plain);
      state.secrets = [secret];
      return result;
    } catch (e) {
      if (isCode(e, "PKCS12_UNSUPPORTED")) throw e; // it decrypted: the password was right
      if (state.macVerified) throw e instanceof ShomeiError ? e : malformed(`${what}: ${String(e)}`, e);
    }
  }
  throw wrongPassword();
}

function readMac(macNode: Block, authSafe: Buffer, state: ReadState): string {
  const [digestInfo, saltNode, iterNode] = elements(macNode, "MacData");
  const [algNode, digestNode] = elements(digestInfo, "MAC DigestInfo");
  const alg = readAlgorithm(algNode, "MAC algorithm");
  const expected = readOctets(digestNode, "MAC value");
  const same = (got: Buffer): boolean => got.length === expected.length && crypto.timingSafeEqual(got, expected);

  if (alg.oid === OID.pbmac1) {
    // RFC 9579: PBMAC1-params ::= SEQUENCE { keyDerivationFunc, messageAuthScheme }; the
    // MacData salt and iteration count are not used.
    const [kdfNode, schemeNode] = elements(alg.params, "PBMAC1 parameters");
    const kdf = readPbkdf2(readAlgorithm(kdfNode, "PBMAC1 key derivation"), "PBMAC1");
    const scheme = readAlgorithm(schemeNode, "PBMAC1 message authentication scheme");
    const hmac = hmacDigestByOid(scheme.oid);
    if (!hmac) throw unsupported(`PBMAC1 with ${scheme.oid}`);
    if (kdf.keyLength === undefined) throw malformed("PBMAC1 without a PBKDF2 key length");
    const label = `PBMAC1/HMAC-${hmac.label}/PBKDF2-${kdf.prf.label}`;
    spend(state, kdf.iterations * Math.ceil(kdf.keyLength / kdf.prf.u));
    const secret = state.secrets[0]!; // PBKDF2 takes UTF-8: every candidate is the same
    const key = crypto.pbkdf2Sync(secret.utf8, kdf.salt, kdf.iterations, kdf.keyLength, kdf.prf.node);
    if (!same(crypto.createHmac(hmac.node, key).update(authSafe).digest())) throw wrongPassword();
    state.secrets = [secret];
    state.macVerified = true;
    return label;
  }

  const d = digestByOid(alg.oid);
  if (!d) throw unsupported(`MAC with digest ${OLD_DIGESTS[alg.oid] ?? alg.oid}`);
  const salt = readOctets(saltNode, "MAC salt");
  const iterations = iterNode === undefined ? 1 : readIterations(iterNode, "MAC");
  if (expected.length !== d.u) throw malformed(`MAC of ${expected.length} bytes for ${d.label}`);
  for (const secret of state.secrets) {
    spend(state, iterations);
    const key = pkcs12Kdf(d.node, secret.bmp, salt, iterations, 3, d.u);
    if (same(crypto.createHmac(d.node, key).update(authSafe).digest())) {
      state.secrets = [secret];
      state.macVerified = true;
      return `HMAC-${d.label}`;
    }
  }
  throw wrongPassword();
}

function toPrivateKey(ber: Buffer, what: string): KeyObject {
  // Checked on its DER bytes first (curve, scalar in range, RSA size and exponent): node:crypto
  // only ever sees a key Shomei accepts. NSS writes BER: it is made DER first.
  let pkcs8: Buffer;
  try {
    pkcs8 = berToDer(ber, what);
    checkPkcs8(pkcs8);
  } catch (e) {
    if (isShomeiError(e) && e.code === "BAD_DER") throw malformed(`${what}: not a PKCS#8 private key`, e);
    if (isShomeiError(e) && e.code === "KEY_UNSUPPORTED") throw unsupported(`private key of type ${String(e.params.kind)}`);
    throw e; // KEY_INVALID, KEY_TOO_SMALL, KEY_RSA_EXPONENT say what is wrong with the key itself
  }
  try {
    return crypto.createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
  } catch (e) {
    // Tell a key Node cannot use from bytes that are not a key at all.
    let algorithm: string | undefined;
    try {
      const [, algNode] = elements(parse(pkcs8, what), what);
      algorithm = readAlgorithm(algNode, what).oid;
    } catch {
      throw malformed(`${what}: not a PKCS#8 private key`, e);
    }
    throw unsupported(`private key of type ${algorithm}`);
  }
}

function readAttributes(b: Block | undefined): { friendlyName?: string; localKeyId?: Buffer } {
  const out: { friendlyName?: string; localKeyId?: Buffer } = {};
  if (b === undefined) return out;
  for (const attr of elements(b, "bag attributes", UNIVERSAL, 17)) {
    const [idNode, valuesNode] = elements(attr, "bag attribute");
    const id = readOid(idNode, "bag attribute");
    const value = elements(valuesNode, "bag attribute values", UNIVERSAL, 17)[0];
    if (id === OID.friendlyName && (value instanceof asn1js.BmpString || value instanceof asn1js.Utf8String)) {
      out.friendlyName = value.getValue();
    } else if (id === OID.localKeyId && value instanceof asn1js.OctetString) {
      out.localKeyId = readOctets(value, "localKeyId");
    }
  }
  return out;
}

function setKey(state: ReadState, key: KeyObject, attrs: { friendlyName?: string; localKeyId?: Buffer }): void {
  if (state.privateKey) return; // one key per file is what we use; later ones are ignored
  state.privateKey = key;
  state.keyLocalKeyId = attrs.localKeyId;
  state.keyFriendlyName = attrs.friendlyName;
}

function readSafeContents(bytes: Buffer, state: ReadState, depth: number): void {
  if (depth > MAX_NESTING) throw malformed("SafeContents nested too deep");
  for (const bag of elements(parse(bytes, "SafeContents"), "SafeContents")) {
    const [idNode, valueNode, attrNode] = elements(bag, "SafeBag");
    const bagId = readOid(idNode, "SafeBag type");
    const value = explicitContent(valueNode, "SafeBag value");
    const attrs = readAttributes(attrNode);
    switch (bagId) {
      case OID.keyBag:
        setKey(state, toPrivateKey(raw(value), "key bag"), attrs);
        break;
      case OID.pkcs8ShroudedKeyBag: {
        const [algNode, dataNode] = elements(value, "shrouded key bag");
        const alg = readAlgorithm(algNode, "shrouded key bag algorithm");
        const data = readOctets(dataNode, "shrouded key bag data");
        setKey(state, decryptAndRead(alg, data, state, "shrouded key bag", (plain) => toPrivateKey(plain, "shrouded key bag")), attrs);
        break;
      }
      case OID.certBag: {
        const [certIdNode, certValueNode] = elements(value, "certificate bag");
        if (readOid(certIdNode, "certificate type") !== OID.x509Certificate) break; // SDSI: not ours
        const certDer = readOctets(explicitContent(certValueNode, "certificate bag value"), "certificate");
        elements(parse(certDer, "certificate"), "certificate");
        state.certificates.push({ der: certDer, ...attrs });
        break;
      }
      case OID.safeContentsBag:
        readSafeContents(raw(value), state, depth + 1);
        break;
      default:
        break; // CRLs, secrets and unknown bags are not ours to read
    }
  }
}

function readAuthenticatedSafe(bytes: Buffer, state: ReadState): void {
  for (const info of elements(parse(bytes, "AuthenticatedSafe"), "AuthenticatedSafe")) {
    const [typeNode, contentNode] = elements(info, "ContentInfo");
    const type = readOid(typeNode, "ContentInfo type");
    if (type === OID.data) {
      if (contentNode === undefined) continue;
      readSafeContents(readOctets(explicitContent(contentNode, "data"), "data"), state, 0);
    } else if (type === OID.encryptedData) {
      const [versionNode, eci] = elements(explicitContent(contentNode, "EncryptedData"), "EncryptedData");
      readInt(versionNode, "EncryptedData version");
      const [, algNode, contentValue] = elements(eci, "EncryptedContentInfo");
      const alg = readAlgorithm(algNode, "EncryptedContentInfo algorithm");
      if (contentValue === undefined) continue; // nothing inside
      const data = readOctets(contentValue, "encrypted content", CONTEXT, 0);
      const plain = decryptAndRead(alg, data, state, "encrypted content", (p) => {
        elements(parse(p, "SafeContents"), "SafeContents");
        return p;
      });
      readSafeContents(plain, state, 0);
    } else if (type === OID.envelopedData) {
      throw unsupported("public-key encrypted contents (EnvelopedData)");
    } else {
      throw unsupported(`content type ${type}`);
    }
  }
}

/**
 * Reads a PKCS#12 file. Throws ShomeiError: PKCS12_PASSWORD_WRONG (the MAC or a decryption
 * fails), PKCS12_MALFORMED (not DER/BER, not PKCS#12, truncated), PKCS12_UNSUPPORTED (an
 * algorithm it cannot decrypt, named, or more iterations than MAX_ITERATIONS).
 */
export function decodePkcs12(derBytes: Uint8Array, password: string): Pkcs12Contents {
  const state: ReadState = { secrets: secretsFor(password), macVerified: false, work: 0, algorithms: [], certificates: [] };
  let macAlgorithm: string | undefined;
  try {
    if (derBytes.length === 0) throw malformed("the file is empty");
    const [versionNode, authSafeNode, macNode] = elements(parse(derBytes, "PFX"), "PFX");
    const version = readInt(versionNode, "PFX version");
    const [typeNode, contentNode] = elements(authSafeNode, "authSafe");
    const type = readOid(typeNode, "authSafe type");
    if (type !== OID.data && type !== OID.signedData) throw malformed(`not PKCS#12 (authSafe of type ${type})`);
    if (version !== 3n) throw unsupported(`PKCS#12 version ${version}`);
    if (type === OID.signedData) throw unsupported("public-key integrity mode (SignedData)");
    const authSafe = readOctets(explicitContent(contentNode, "authSafe"), "authSafe");
    if (macNode !== undefined) macAlgorithm = readMac(macNode, authSafe, state);
    readAuthenticatedSafe(authSafe, state);
  } catch (e) {
    if (e instanceof ShomeiError) throw e;
    throw malformed(String(e), e);
  }
  return {
    privateKey: state.privateKey,
    keyLocalKeyId: state.keyLocalKeyId,
    keyFriendlyName: state.keyFriendlyName,
    certificates: state.certificates,
    algorithms: state.algorithms,
    macAlgorithm,
  };
}
