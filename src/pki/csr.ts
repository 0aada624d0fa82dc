/**
 * PKCS#10 certificate requests: parsing with proof-of-possession check, and building one
 * (the issuance application's side). The subject a CSR asks for is read for the audit log
 * only: the CA decides the subject.
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from "node:crypto";
import * as asn1js from "asn1js";
import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificationRequest, CertificationRequestInfo } from "@peculiar/asn1-csr";
import { Name, SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import { ShomeiError } from "../i18n/errors.js";
import { keyKindOf, spkiDer, SIGNATURE_ALGORITHMS, type KeyKind, type Signer } from "./keys.js";
import { buildName, nameToString } from "./names.js";

export interface ParsedCsr {
  /** The request as received. */
  readonly der: Buffer;
  /** SubjectPublicKeyInfo DER: what goes into the certificate. */
  readonly spki: Buffer;
  readonly publicKey: KeyObject;
  readonly keyKind: KeyKind;
  /** The subject the requester asked for, as text (informational only). */
  readonly requestedSubject: string;
}

function malformed(cause?: unknown): ShomeiError {
  return new ShomeiError("BAD_DER", { what: "CSR" }, { cause });
}

/**
 * Parses a DER CSR, checks the key is one Shomei accepts and that the request is signed by
 * that key (proof of possession). The signed bytes are taken as received, not re-encoded,
 * and only the generic asn1js tree is built (the hot path of enrollment).
 *
 *   CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
 *   CertificationRequestInfo ::= SEQUENCE { version INTEGER, subject Name, subjectPKInfo, attributes [0] }
 */
export function parseCsr(der: Uint8Array): ParsedCsr {
  const bytes = Buffer.from(der);
  const ber = asn1js.fromBER(bytes);
  if (ber.offset === -1 || ber.offset !== bytes.length) throw malformed(ber.result.error);
  const [info, algorithm, signature] = sequence(ber.result, 3) as [asn1js.AsnType, asn1js.AsnType, asn1js.AsnType];
  const [version, subject, spkiNode] = sequence(info, 4);
  const [algOid] = sequence(algorithm, 1, 2);
  if (!(version instanceof asn1js.Integer) || version.valueBlock.valueDec !== 0) throw malformed();
  if (!(algOid instanceof asn1js.ObjectIdentifier) || !(signature instanceof asn1js.BitString) || signature.valueBlock.unusedBits !== 0) throw malformed();
  if (!(subject instanceof asn1js.Sequence) || !(spkiNode instanceof asn1js.Sequence)) throw malformed();

  const spki = Buffer.from(spkiNode.valueBeforeDecodeView);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: spki, format: "der", type: "spki" });
  } catch (e) {
    throw new ShomeiError("KEY_UNSUPPORTED", { kind: "?" }, { cause: e });
  }
  const keyKind = keyKindOf(publicKey);
  const oid = algOid.valueBlock.toString();
  const alg = SIGNATURE_ALGORITHMS[oid];
  if (!alg) throw new ShomeiError("SIGNATURE_ALGORITHM_UNSUPPORTED", { oid });
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
    throw malformed(e);
  }
  return { der: bytes, spki, publicKey, keyKind, requestedSubject };
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
