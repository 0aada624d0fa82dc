/**
 * PKCS#10 certificate requests: parsing with proof-of-possession check, and building one
 * (the issuance application's side). The subject a CSR asks for is read for the audit log
 * only: the CA decides the subject.
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from "node:crypto";
import * as asn1js from "asn1js";
import { AsnConvert, AsnParser } from "@peculiar/asn1-schema";
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
 * that key (proof of possession). The signed bytes are taken as received, not re-encoded.
 */
export function parseCsr(der: Uint8Array): ParsedCsr {
  const bytes = Buffer.from(der);
  const ber = asn1js.fromBER(bytes);
  if (ber.offset === -1 || ber.offset !== bytes.length || !(ber.result instanceof asn1js.Sequence)) throw malformed(ber.result.error);
  const parts = ber.result.valueBlock.value;
  const infoNode = parts[0];
  if (parts.length !== 3 || !infoNode) throw malformed();
  let csr: CertificationRequest;
  try {
    csr = AsnParser.fromASN(ber.result, CertificationRequest);
  } catch (e) {
    throw malformed(e);
  }
  const info = Buffer.from(infoNode.valueBeforeDecodeView);
  const spki = Buffer.from(AsnConvert.serialize(csr.certificationRequestInfo.subjectPKInfo));
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: spki, format: "der", type: "spki" });
  } catch (e) {
    throw new ShomeiError("KEY_UNSUPPORTED", { kind: csr.certificationRequestInfo.subjectPKInfo.algorithm.algorithm }, { cause: e });
  }
  const keyKind = keyKindOf(publicKey);
  const alg = SIGNATURE_ALGORITHMS[csr.signatureAlgorithm.algorithm];
  if (!alg) throw new ShomeiError("SIGNATURE_ALGORITHM_UNSUPPORTED", { oid: csr.signatureAlgorithm.algorithm });
  if (alg.key !== publicKey.asymmetricKeyType) throw new ShomeiError("CSR_SIGNATURE_INVALID");
  let ok = false;
  try {
    ok = nodeVerify(alg.hash, info, { key: publicKey, dsaEncoding: "der" }, Buffer.from(csr.signature));
  } catch {
    ok = false;
  }
  if (!ok) throw new ShomeiError("CSR_SIGNATURE_INVALID");
  return { der: bytes, spki, publicKey, keyKind, requestedSubject: nameToString(csr.certificationRequestInfo.subject) };
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
