/**
 * Writing PKCS#12 files with WebCrypto, for the browser's enrollment and renewal pages: the
 * same two profiles and the same structure as `shomei export` (pkcs12.ts, whose reader is the
 * test of this writer), with the same default iteration counts.
 * - modern: PBES2 = PBKDF2-HMAC-SHA-256 + AES-256-CBC (WebCrypto), HMAC-SHA-256 MAC.
 * - compatible: pbeWithSHAAnd3-KeyTripleDES-CBC (DES-EDE3-CBC from des.ts: WebCrypto has none)
 *   and an HMAC-SHA-1 MAC, for Windows Server 2016 / macOS 12 and older.
 * The PKCS#12 KDF (RFC 7292 B.2) runs its first hash on WebCrypto and iterates in sha_iterate.ts.
 * Pure: only `globalThis.crypto` (browsers, and Node.js ≥ 20 for the tests).
 */
import * as asn1js from "asn1js";
import { derBytes, encoded, explicit0, int, nul, octets, oid, seq, type Block } from "./asn1_encoded.js";
import { desEde3CbcEncrypt } from "./des.js";
import { iterateSha1, iterateSha256 } from "./sha_iterate.js";
import { addToEachBlock, stretch } from "./pkcs12_kdf_steps.js";

export type WebPkcs12Profile = "modern" | "compatible";

/** The same counts as DEFAULT_ITERATIONS in pkcs12.ts (not imported: that module needs node:crypto). */
export const WEB_ITERATIONS: Readonly<Record<WebPkcs12Profile, number>> = { modern: 200_000, compatible: 100_000 };

export interface WebPkcs12Input {
  /** The private key as PKCS#8 DER. */
  readonly pkcs8: Uint8Array;
  readonly certificate: Uint8Array;
  /** Issuing CA first, root last. */
  readonly chain: readonly Uint8Array[];
  readonly password: string;
  readonly profile: WebPkcs12Profile;
  readonly friendlyName?: string;
  readonly iterations?: number;
}

const OID = {
  data: "1.2.840.113549.1.7.1",
  encryptedData: "1.2.840.113549.1.7.6",
  pkcs8ShroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  certBag: "1.2.840.113549.1.12.10.1.3",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  pbeSha1TripleDes: "1.2.840.113549.1.12.1.3",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  hmacSha256: "1.2.840.113549.2.9",
  sha1: "1.3.14.3.2.26",
  sha256: "2.16.840.1.101.3.4.2.1",
} as const;

const der = derBytes;
const contentInfo = (type: string, content: Block): Block => seq(oid(type), explicit0(content));

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function setOf(elements: readonly Block[]): Block {
  return new asn1js.Set({ value: elements.map(der).sort(compareBytes).map((e) => encoded(e)) });
}

type Subtle = typeof globalThis.crypto.subtle;

function subtle(): Subtle {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error("WebCrypto (crypto.subtle) is not available");
  return s;
}

const random = (n: number): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(n));
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const buf = (b: Uint8Array): ArrayBuffer => b.slice().buffer;

/** The password as the PKCS#12 KDF takes it: BMPString (UTF-16BE) and two zero bytes. */
export function bmpPassword(password: string): Uint8Array {
  const out = new Uint8Array(2 * password.length + 2);
  for (let i = 0; i < password.length; i++) {
    const c = password.charCodeAt(i);
    out[2 * i] = c >> 8;
    out[2 * i + 1] = c & 0xff;
  }
  return out;
}

/** RFC 7292 B.2 with SHA-1 or SHA-256: `n` bytes for purpose `id` (1 key, 2 IV, 3 MAC key). */
export async function pkcs12KdfWeb(hash: "SHA-1" | "SHA-256", password: Uint8Array, salt: Uint8Array, iterations: number, id: 1 | 2 | 3, n: number): Promise<Uint8Array> {
  const u = hash === "SHA-1" ? 20 : 32;
  const v = 64;
  const dBlock = new Uint8Array(v).fill(id);
  const i = concat(stretch(salt, v), stretch(password, v));
  const blocks = Math.ceil(n / u);
  const out = new Uint8Array(blocks * u);
  for (let b = 0; b < blocks; b++) {
    const first = new Uint8Array(await subtle().digest(hash, buf(concat(dBlock, i))));
    const a = hash === "SHA-1" ? iterateSha1(first, iterations - 1) : iterateSha256(first, iterations - 1);
    out.set(a, b * u);
    if (b + 1 === blocks) break;
    addToEachBlock(i, a, v);
  }
  return out.subarray(0, n);
}

async function encrypt(profile: WebPkcs12Profile, password: string, iterations: number, plain: Uint8Array): Promise<{ algorithm: Block; data: Uint8Array }> {
  if (profile === "modern") {
    const salt = random(16);
    const iv = random(16);
    const base = await subtle().importKey("raw", buf(new TextEncoder().encode(password)), "PBKDF2", false, ["deriveKey"]);
    const key = await subtle().deriveKey({ name: "PBKDF2", hash: "SHA-256", salt: buf(salt), iterations }, base, { name: "AES-CBC", length: 256 }, false, ["encrypt"]);
    const data = new Uint8Array(await subtle().encrypt({ name: "AES-CBC", iv: buf(iv) }, key, buf(plain)));
    const kdf = seq(oid(OID.pbkdf2), seq(octets(salt), int(iterations), seq(oid(OID.hmacSha256), nul())));
    return { algorithm: seq(oid(OID.pbes2), seq(kdf, seq(oid(OID.aes256Cbc), octets(iv)))), data };
  }
  const salt = random(8);
  const bmp = bmpPassword(password);
  const key = await pkcs12KdfWeb("SHA-1", bmp, salt, iterations, 1, 24);
  const iv = await pkcs12KdfWeb("SHA-1", bmp, salt, iterations, 2, 8);
  return { algorithm: seq(oid(OID.pbeSha1TripleDes), seq(octets(salt), int(iterations))), data: desEde3CbcEncrypt(key, iv, plain) };
}

function bagAttributes(localKeyId: Uint8Array, friendlyName: string | undefined): Block[] {
  const attrs: Block[] = [];
  if (friendlyName !== undefined) attrs.push(seq(oid(OID.friendlyName), setOf([new asn1js.BmpString({ value: friendlyName })])));
  attrs.push(seq(oid(OID.localKeyId), setOf([octets(localKeyId)])));
  return [setOf(attrs)];
}

function certBag(certDer: Uint8Array, attrs: Block[]): Block {
  return seq(oid(OID.certBag), explicit0(seq(oid(OID.x509Certificate), explicit0(octets(certDer)))), ...attrs);
}

/** A PKCS#12 file with the key, the certificate and the CA certificates, as `shomei export` writes it. */
export async function encodePkcs12Web(input: WebPkcs12Input): Promise<Uint8Array> {
  const profile = input.profile;
  if (profile !== "modern" && profile !== "compatible") throw new RangeError(`unknown PKCS#12 profile ${String(profile)}`);
  const iterations = input.iterations ?? WEB_ITERATIONS[profile];
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw new RangeError("iterations must be at least 1");
  const localKeyId = new Uint8Array(await subtle().digest("SHA-1", buf(input.certificate)));
  const attrs = bagAttributes(localKeyId, input.friendlyName);

  const certs = seq(certBag(input.certificate, attrs), ...input.chain.map((c) => certBag(c, [])));
  const sealedCerts = await encrypt(profile, input.password, iterations, der(certs));
  const encryptedData = seq(
    int(0),
    seq(oid(OID.data), sealedCerts.algorithm, new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: sealedCerts.data })),
  );
  const sealedKey = await encrypt(profile, input.password, iterations, input.pkcs8);
  const keyBag = seq(oid(OID.pkcs8ShroudedKeyBag), explicit0(seq(sealedKey.algorithm, octets(sealedKey.data))), ...attrs);
  const authSafe = der(seq(contentInfo(OID.encryptedData, encryptedData), contentInfo(OID.data, octets(der(seq(keyBag))))));

  const modern = profile === "modern";
  const macSalt = random(modern ? 16 : 8);
  const macKeyBytes = await pkcs12KdfWeb(modern ? "SHA-256" : "SHA-1", bmpPassword(input.password), macSalt, iterations, 3, modern ? 32 : 20);
  const macKey = await subtle().importKey("raw", buf(macKeyBytes), { name: "HMAC", hash: modern ? "SHA-256" : "SHA-1" }, false, ["sign"]);
  const digest = new Uint8Array(await subtle().sign("HMAC", macKey, buf(authSafe)));
  const macData = seq(seq(seq(oid(modern ? OID.sha256 : OID.sha1), nul()), octets(digest)), octets(macSalt), int(iterations));
  return der(seq(int(3), contentInfo(OID.data, octets(authSafe)), macData));
}
