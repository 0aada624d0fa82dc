/**
 * Hand-made CSRs and public keys for policy tests: every part can be replaced by raw DER, and
 * the request is still signed by a real key, so a test reaches the check it means to reach.
 */
import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { tlv } from "../../src/pki/der.js";

export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ""), "hex");

/** OIDs as full DER elements. */
export const OID = {
  ecPublicKey: hex("06072a8648ce3d0201"),
  rsaEncryption: hex("06092a864886f70d010101"),
  p256: hex("06082a8648ce3d030107"),
  p384: hex("06052b81040022"),
  p521: hex("06052b81040023"),
  secp256k1: hex("06052b8104000a"),
  ecdsaSha256: hex("06082a8648ce3d040302"),
  sha256WithRsa: hex("06092a864886f70d01010b"),
  cn: hex("0603550403"),
} as const;

export const NULL = hex("0500");

/** The empty-point P-256 CSR body of issue 10 (aborted Node when its key details were read). */
export const EMPTY_POINT_CSR_B64 = "MEcwNQIBADATMREwDwYDVQQDDAhhMDAwMDAwMTAZMBMGByqGSM49AgEGCCqGSM49AwEHAwIAAKAAMAoGCCqGSM49BAMCAwIAAA==";

/** SubjectPublicKeyInfo from its parts: algorithm OID, parameters (raw DER or none) and key bits. */
export function spkiOf(algOid: Buffer, params: Buffer | undefined, keyBits: Buffer): Buffer {
  return tlv(0x30, tlv(0x30, algOid, ...(params ? [params] : [])), tlv(0x03, Buffer.from([0]), keyBits));
}

/** An EC point (uncompressed unless given otherwise) in a P-256 SPKI. */
export function p256Spki(point: Buffer): Buffer {
  return spkiOf(OID.ecPublicKey, OID.p256, point);
}

/** INTEGER from raw content octets. */
export const int = (content: Buffer): Buffer => tlv(0x02, content);

/** An RSA SPKI from modulus and exponent content octets (as they go into the INTEGERs); null: no parameters. */
export function rsaSpki(modulus: Buffer, exponent: Buffer, params: Buffer | null = NULL): Buffer {
  return spkiOf(OID.rsaEncryption, params ?? undefined, tlv(0x30, int(modulus), int(exponent)));
}

/** The uncompressed point (04||X||Y) of an EC key. */
export function ecPoint(key: KeyObject): Buffer {
  const jwk = key.export({ format: "jwk" });
  return Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x ?? "", "base64url"), Buffer.from(jwk.y ?? "", "base64url")]);
}

/** Modulus content octets (with a leading 00) of an RSA key. */
export function rsaModulus(key: KeyObject): Buffer {
  const n = Buffer.from(key.export({ format: "jwk" }).n ?? "", "base64url");
  return Buffer.concat([Buffer.from([0]), n]);
}

/** A Name with one CN whose value is the given raw DER string element (e.g. tlv(0x1e, …) for a BMPString). */
export function nameWith(value: Buffer): Buffer {
  return tlv(0x30, tlv(0x31, tlv(0x30, OID.cn, value)));
}

export interface CraftOptions {
  /** The signing key (default: a fresh P-256 key). */
  readonly key?: KeyObject;
  /** Raw version element (default 02 01 00). */
  readonly version?: Buffer;
  /** Raw subject Name (default CN=a0000001 as UTF8String). */
  readonly subject?: Buffer;
  /** Raw SPKI (default: the signing key's). */
  readonly spki?: Buffer;
  /** Raw signatureAlgorithm (default: ECDSA-SHA256 or sha256WithRSAEncryption with NULL by key type). */
  readonly algorithm?: Buffer;
}

/** A CSR signed by `key` (or a fresh P-256 key) with the given parts replaced. */
export function craftCsr(o: CraftOptions = {}): Buffer {
  const key = o.key ?? generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
  const rsa = key.asymmetricKeyType === "rsa";
  const spki = o.spki ?? createPublicKey(key).export({ format: "der", type: "spki" });
  const info = tlv(0x30,
    o.version ?? hex("020100"),
    o.subject ?? nameWith(tlv(0x0c, Buffer.from("a0000001"))),
    spki,
    hex("a000"));
  const algorithm = o.algorithm ?? (rsa ? tlv(0x30, OID.sha256WithRsa, NULL) : tlv(0x30, OID.ecdsaSha256));
  const sig = sign("sha256", info, { key, dsaEncoding: "der" });
  return tlv(0x30, info, algorithm, tlv(0x03, Buffer.from([0]), sig));
}
