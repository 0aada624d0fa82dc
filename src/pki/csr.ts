/**
 * PKCS#10 certificate requests: parsing with proof-of-possession check, and building one
 * (the issuance application's side). The subject a CSR asks for is read for the audit log
 * only: the CA decides the subject.
 */
import { verify as nodeVerify, type KeyObject } from "node:crypto";
import * as asn1js from "asn1js";
import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificationRequest, CertificationRequestInfo } from "@peculiar/asn1-csr";
import { Name, SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import { ShomeiError } from "../i18n/errors.js";
import { spkiDer, SIGNATURE_ALGORITHMS, type KeyKind, type Signer } from "./keys.js";
import { publicKeyFromSpki, publicKeyFromSpkiAsync } from "./spki.js";
import { buildName, nameDerText, nameToString } from "./names.js";
import { children, readTlv } from "./der.js";

export interface ParsedCsr {
  /** The request as received. */
  readonly der: Buffer;
  /** SubjectPublicKeyInfo DER: what goes into the certificate. */
  readonly spki: Buffer;
  readonly publicKey: KeyObject;
  readonly keyKind: KeyKind;
  /** The subject the requester asked for, as text (informational only), at most SUBJECT_MAX characters. */
  readonly requestedSubject: string;
}

/** What a CA accepts in a request beyond what Shomei accepts at all. */
export interface CsrPolicy {
  /** The key kinds this CA certifies (default: all of KEY_KINDS). */
  readonly allowedKeyKinds: readonly KeyKind[];
}

/** The longest requested subject kept (it goes into the audit log). */
export const SUBJECT_MAX = 256;

function malformed(cause?: unknown): ShomeiError {
  return new ShomeiError("BAD_DER", { what: "CSR" }, { cause });
}

/** The only version PKCS#10 defines: INTEGER 0, exactly `02 01 00`. */
const VERSION_0 = Buffer.from([0x02, 0x01, 0x00]);
const NULL = Buffer.from([0x05, 0x00]);

/**
 * Parses a DER CSR, checks the key is one Shomei (and the policy) accepts and that the request
 * is signed by that key (proof of possession). The key is checked on its DER bytes before
 * node:crypto sees it. The signed bytes are taken as received, not re-encoded, and only the
 * generic asn1js tree is built (the hot path of enrollment). Every refusal is a catalog code.
 *
 *   CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
 *   CertificationRequestInfo ::= SEQUENCE { version INTEGER, subject Name, subjectPKInfo, attributes [0] }
 */
export function parseCsr(der: Uint8Array, policy?: CsrPolicy): ParsedCsr {
  const bytes = Buffer.from(der);
  return parseCsrDer(bytes, policy) ?? parseCsrTree(bytes, policy);
}

/** Content octets of a dotted OID (for comparing with the bytes of a request). */
function oidContent(dotted: string): string {
  const arcs = dotted.split(".").map((a) => BigInt(a));
  const first = (arcs[0] ?? 0n) * 40n + (arcs[1] ?? 0n);
  const out: number[] = [];
  for (const arc of [first, ...arcs.slice(2)]) {
    const bytes = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) bytes.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...bytes);
  }
  return Buffer.from(out).toString("hex");
}

/** The accepted signature algorithms by the hex of their OID's content octets. */
const SIGNATURE_OIDS = new Map(Object.keys(SIGNATURE_ALGORITHMS).map((oid) => [oidContent(oid), oid]));
const EMPTY_ATTRIBUTES = Buffer.from([0xa0, 0x00]);

/**
 * The hot path: a request in strict DER, with no attributes, an accepted signature algorithm and
 * a good signature, read with the DER walker (der.ts) instead of building the asn1js tree of the
 * whole request. Anything else (BER, attributes, any refusal) returns undefined and the request
 * goes through parseCsrTree, so every answer other than success — and success itself, whose
 * checks are the same in the same order on the same bytes — is what parseCsrTree gives
 * (csr.test.ts compares the two on well-formed, crafted and mutated requests).
 */
export function parseCsrDer(bytes: Buffer, policy?: CsrPolicy): ParsedCsr | undefined {
  try {
    const parts = strictParts(bytes);
    return parts && checkedParts(bytes, parts, publicKeyFromSpki(parts.spki), policy);
  } catch {
    return undefined;
  }
}

/**
 * parseCsr for the enrollment hot path: parseCsrDer with the key loaded by
 * publicKeyFromSpkiAsync (WebCrypto's raw EC import, cheaper than JWK), else parseCsrTree.
 * Same answers as parseCsr (csr.test.ts compares all three on the same requests).
 */
export async function parseCsrAsync(der: Uint8Array, policy?: CsrPolicy): Promise<ParsedCsr> {
  const bytes = Buffer.from(der);
  let fast: ParsedCsr | undefined;
  try {
    const parts = strictParts(bytes);
    fast = parts && checkedParts(bytes, parts, await publicKeyFromSpkiAsync(parts.spki), policy);
  } catch {
    fast = undefined;
  }
  return fast ?? parseCsrTree(bytes, policy);
}

interface StrictParts {
  readonly spki: Buffer;
  readonly alg: { readonly hash: string; readonly key: "ec" | "rsa" };
  readonly signed: Buffer;
  readonly signature: Buffer;
  readonly subject: Buffer;
}

/** The structural checks of parseCsrDer, before any key is loaded: undefined for anything but the strict, attribute-free form. */
function strictParts(bytes: Buffer): StrictParts | undefined {
  const what = "CSR";
  const outer = readTlv(bytes, 0, what);
  if (outer.tag !== 0x30 || outer.end !== bytes.length) return undefined;
  const top = [...children(bytes, outer, what)];
  const [info, algorithm, signature] = top;
  if (top.length !== 3 || info?.tag !== 0x30 || algorithm?.tag !== 0x30 || signature?.tag !== 0x03) return undefined;
  const parts = [...children(bytes, info, what)];
  const [version, subject, spkiNode, attributes] = parts;
  if (parts.length !== 4 || !version || subject?.tag !== 0x30 || spkiNode?.tag !== 0x30 || !attributes) return undefined;
  if (!bytes.subarray(version.at, version.end).equals(VERSION_0)) return undefined;
  if (!bytes.subarray(attributes.at, attributes.end).equals(EMPTY_ATTRIBUTES)) return undefined;
  const alg = [...children(bytes, algorithm, what)];
  const [algOid, algParams] = alg;
  if (alg.length < 1 || alg.length > 2 || algOid?.tag !== 0x06) return undefined;
  const oid = SIGNATURE_OIDS.get(bytes.subarray(algOid.start, algOid.end).toString("hex"));
  const a = oid === undefined ? undefined : SIGNATURE_ALGORITHMS[oid];
  if (!a) return undefined;
  const params = algParams === undefined ? undefined : bytes.subarray(algParams.at, algParams.end);
  if (a.key === "ec" && params !== undefined) return undefined;
  if (a.key === "rsa" && !params?.equals(NULL)) return undefined;
  if (signature.end - signature.start < 1 || bytes[signature.start] !== 0) return undefined;
  for (const t of [outer, info, algorithm, signature, ...parts, ...alg]) if ((t.tag & 0x1f) === 0x1f) return undefined;
  return {
    spki: Buffer.from(bytes.subarray(spkiNode.at, spkiNode.end)), alg: a, signed: bytes.subarray(info.at, info.end),
    signature: bytes.subarray(signature.start + 1, signature.end), subject: bytes.subarray(subject.at, subject.end),
  };
}

/** The checks of parseCsrDer once the key is loaded: policy, key type, signature, subject text (undefined: take the tree way). */
function checkedParts(bytes: Buffer, p: StrictParts, key: { publicKey: KeyObject; kind: KeyKind }, policy: CsrPolicy | undefined): ParsedCsr | undefined {
  const { publicKey, kind: keyKind } = key;
  if (policy && !policy.allowedKeyKinds.includes(keyKind)) return undefined;
  if (p.alg.key !== publicKey.asymmetricKeyType) return undefined;
  if (!nodeVerify(p.alg.hash, p.signed, { key: publicKey, dsaEncoding: "der" }, p.signature)) return undefined;
  return { der: bytes, spki: p.spki, publicKey, keyKind, requestedSubject: capped(nameDerText(p.subject)) };
}

/** parseCsr through the generic asn1js tree of the whole request: every refusal's code comes from here. */
export function parseCsrTree(der: Uint8Array, policy?: CsrPolicy): ParsedCsr {
  const bytes = Buffer.from(der);
  let ber: ReturnType<typeof asn1js.fromBER>;
  try {
    // asn1js decodes strings while it parses: an odd-length BMPString throws a RangeError here.
    ber = asn1js.fromBER(bytes);
  } catch (e) {
    throw malformed(e);
  }
  if (ber.offset === -1 || ber.offset !== bytes.length) throw malformed(ber.result.error);
  const [info, algorithm, signature] = sequence(ber.result, 3) as [asn1js.AsnType, asn1js.AsnType, asn1js.AsnType];
  const [version, subject, spkiNode] = sequence(info, 4);
  const [algOid, algParams] = sequence(algorithm, 1, 2);
  if (!(version instanceof asn1js.Integer)) throw malformed();
  if (!Buffer.from(version.valueBeforeDecodeView).equals(VERSION_0)) throw new ShomeiError("CSR_VERSION_UNSUPPORTED");
  if (!(algOid instanceof asn1js.ObjectIdentifier) || !(signature instanceof asn1js.BitString) || signature.valueBlock.unusedBits !== 0) throw malformed();
  if (!(subject instanceof asn1js.Sequence) || !(spkiNode instanceof asn1js.Sequence)) throw malformed();

  const spki = Buffer.from(spkiNode.valueBeforeDecodeView);
  const { publicKey, kind: keyKind } = publicKeyFromSpki(spki);
  if (policy && !policy.allowedKeyKinds.includes(keyKind)) {
    throw new ShomeiError("KEY_NOT_ALLOWED", { kind: keyKind, allowed: policy.allowedKeyKinds.join(", ") });
  }
  const oid = algOid.valueBlock.toString();
  const alg = SIGNATURE_ALGORITHMS[oid];
  if (!alg) throw new ShomeiError("SIGNATURE_ALGORITHM_UNSUPPORTED", { oid });
  const params = algParams === undefined ? undefined : Buffer.from(algParams.valueBeforeDecodeView);
  if (alg.key === "ec" && params !== undefined) throw new ShomeiError("CSR_SIGNATURE_PARAMS_INVALID", { reason: "ECDSA takes no parameters" });
  if (alg.key === "rsa" && !params?.equals(NULL)) throw new ShomeiError("CSR_SIGNATURE_PARAMS_INVALID", { reason: "RSA takes NULL parameters" });
  if (alg.key !== publicKey.asymmetricKeyType) throw new ShomeiError("CSR_SIGNATURE_INVALID");
  let ok = false;
  try {
    ok = nodeVerify(alg.hash, info.valueBeforeDecodeView, { key: publicKey, dsaEncoding: "der" }, signature.valueBlock.valueHexView);
  } catch {
    ok = false;
  }
  if (!ok) throw new ShomeiError("CSR_SIGNATURE_INVALID");
  let requestedSubject: string;
  try {
    requestedSubject = nameToString(AsnConvert.parse(subject.valueBeforeDecodeView, Name));
  } catch (e) {
    throw new ShomeiError("BAD_DER", { what: "CSR subject" }, { cause: e });
  }
  return { der: bytes, spki, publicKey, keyKind, requestedSubject: capped(requestedSubject) };
}

/** At most SUBJECT_MAX characters (whole code points), marked with … when cut. */
function capped(s: string): string {
  const chars = [...s];
  return chars.length <= SUBJECT_MAX ? s : chars.slice(0, SUBJECT_MAX - 1).join("") + "…";
}

/** The elements of a SEQUENCE, which must number between min and max. */
function sequence(node: asn1js.AsnType | undefined, min: number, max = min): asn1js.AsnType[] {
  if (!(node instanceof asn1js.Sequence)) throw malformed();
  const items = node.valueBlock.value;
  if (items.length < min || items.length > max) throw malformed();
  return items;
}

/** Builds and signs a CSR for the key behind the signer (used by the issuance application). */
export async function buildCsr(opts: { publicKey: KeyObject; signer: Signer; commonName: string }): Promise<Buffer> {
  const info = new CertificationRequestInfo({
    version: 0,
    subject: buildName({ commonName: opts.commonName }),
    subjectPKInfo: AsnConvert.parse(spkiDer(opts.publicKey), SubjectPublicKeyInfo),
  });
  const infoDer = Buffer.from(AsnConvert.serialize(info));
  const signature = await opts.signer.sign(infoDer);
  const req = new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: opts.signer.algorithm,
    signature: new Uint8Array(signature).buffer,
  });
  return Buffer.from(AsnConvert.serialize(req));
}

export { Name };
