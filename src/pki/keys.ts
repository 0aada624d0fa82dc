/**
 * Key pairs and signers. Keys are node:crypto KeyObjects (fast, software); anything that can
 * sign (an HSM later) plugs in through the Signer interface.
 */
import { generateKeyPair as nodeGenerateKeyPair, createPublicKey, createPrivateKey, sign as nodeSign, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { ShomeiError } from "../i18n/errors.js";
import { checkSpki } from "./spki.js";

const generate = promisify(nodeGenerateKeyPair);

export { KEY_KINDS, isKeyKind, type KeyKind } from "./key_kinds.js";
import type { KeyKind } from "./key_kinds.js";

export interface KeyPair {
  readonly kind: KeyKind;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** Generates a key pair of the given kind (ECDSA P-256 by default). */
export async function generateKeyPair(kind: KeyKind = "ec-p256"): Promise<KeyPair> {
  const pair =
    kind === "ec-p256" ? await generate("ec", { namedCurve: "prime256v1" })
    : kind === "ec-p384" ? await generate("ec", { namedCurve: "secp384r1" })
    : await generate("rsa", { modulusLength: kind === "rsa-2048" ? 2048 : 3072, publicExponent: 0x10001 });
  return { kind, privateKey: pair.privateKey, publicKey: pair.publicKey };
}

/**
 * Classifies a key (public or private), refusing what Shomei does not accept: RSA other than
 * 2048/3072 bits or with an exponent other than 65537, curves other than P-256/P-384, and
 * every other key type. It reads the key's SubjectPublicKeyInfo DER and checks it with
 * `checkSpki`, never `asymmetricKeyDetails` (which aborts the process on some malformed EC keys).
 */
export function keyKindOf(key: KeyObject): KeyKind {
  let der: Buffer;
  try {
    der = spkiDer(key);
  } catch (e) {
    throw new ShomeiError("KEY_INVALID", { reason: "the key cannot be encoded" }, { cause: e });
  }
  return checkSpki(der);
}

export function isRsa(kind: KeyKind): boolean {
  return kind.startsWith("rsa");
}

/** SubjectPublicKeyInfo DER of a key. */
export function spkiDer(key: KeyObject): Buffer {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return pub.export({ format: "der", type: "spki" });
}

/** Signature algorithms: OID, the hash node:crypto uses, and the key type it needs. */
export const SIGNATURE_ALGORITHMS: Readonly<Record<string, { hash: string; key: "ec" | "rsa" }>> = {
  "1.2.840.10045.4.3.2": { hash: "sha256", key: "ec" },
  "1.2.840.10045.4.3.3": { hash: "sha384", key: "ec" },
  "1.2.840.10045.4.3.4": { hash: "sha512", key: "ec" },
  "1.2.840.113549.1.1.11": { hash: "sha256", key: "rsa" },
  "1.2.840.113549.1.1.12": { hash: "sha384", key: "rsa" },
  "1.2.840.113549.1.1.13": { hash: "sha512", key: "rsa" },
};

/** Anything that signs certificates and requests: a software key, later an HSM. */
export interface Signer {
  /** The signatureAlgorithm that goes into what is signed. */
  readonly algorithm: AlgorithmIdentifier;
  /** The key kind, for profiles that depend on it. */
  readonly kind: KeyKind;
  /** Signs the bytes and returns the signature as it goes into the BIT STRING. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

const NULL_PARAMS = new Uint8Array([0x05, 0x00]).buffer;

/** A Signer over a software private key (ECDSA with SHA-256/384 by curve, RSA with SHA-256). */
export function keyObjectSigner(privateKey: KeyObject): Signer {
  const kind = keyKindOf(createPublicKey(privateKey));
  const hash = kind === "ec-p384" ? "sha384" : "sha256";
  const algorithm =
    kind === "ec-p256" ? new AlgorithmIdentifier({ algorithm: "1.2.840.10045.4.3.2" })
    : kind === "ec-p384" ? new AlgorithmIdentifier({ algorithm: "1.2.840.10045.4.3.3" })
    : new AlgorithmIdentifier({ algorithm: "1.2.840.113549.1.1.11", parameters: NULL_PARAMS });
  return {
    algorithm,
    kind,
    sign: (data) => Promise.resolve(nodeSign(hash, data, { key: privateKey, dsaEncoding: "der" })),
  };
}

/**
 * Unencrypted PKCS#8 PEM (the user's key file, 0600). Keys at rest under a passphrase are
 * written by key_wrap.ts (scrypt): Node's own encrypted export uses PBKDF2 at 2,048 iterations.
 */
export function exportPrivateKeyPem(key: KeyObject): string {
  return key.export({ format: "pem", type: "pkcs8" }) as string;
}

/** Reads a PKCS#8 (optionally encrypted) PEM private key. */
export function importPrivateKeyPem(pem: string, passphrase?: string): KeyObject {
  return createPrivateKey(passphrase === undefined ? { key: pem, format: "pem" } : { key: pem, format: "pem", passphrase });
}
