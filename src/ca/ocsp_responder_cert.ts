/**
 * The delegated OCSP responder certificate (RFC 6960 4.2.2.2): issued by the issuing CA for a
 * key that only signs OCSP answers, so the CA key signs once a month instead of per answer.
 * Pure: key, signer and time come in.
 */
import { certificateSubject, encode, readCertificate, signEncoded } from "../pki/certificate.js";
import { spkiDer, type Signer } from "../pki/keys.js";
import { buildName } from "../pki/names.js";
import { Name } from "@peculiar/asn1-x509";
import { keyIdentifier, ocspResponderExtensions } from "../pki/profiles.js";
import { certificateSpki } from "../pki/certificate.js";
import { randomSerial, type RandomSource } from "../pki/serial.js";
import type { KeyObject } from "node:crypto";
import { BACKDATE_MS } from "./hierarchy.js";

const DAY = 86_400_000;

export interface ResponderCertInput {
  readonly issuingCertDer: Uint8Array;
  readonly issuingSigner: Signer;
  /** The responder's public key. */
  readonly publicKey: KeyObject;
  readonly now: Date;
  readonly validityDays: number;
  readonly random?: RandomSource;
}

const CN = "2.5.4.3";

/**
 * Signs a certificate whose subject is the issuing CA's with its CN replaced by
 * `<issuing CA CN> OCSP Responder` (so O and the rest are copied as encoded, whatever they
 * contain), never beyond the CA's own expiry.
 */
export async function issueOcspResponderCert(i: ResponderCertInput): Promise<Buffer> {
  const issuer = certificateSubject(i.issuingCertDer);
  const info = readCertificate(i.issuingCertDer);
  const cn = buildName({ commonName: `${info.commonName ?? "Shomei"} OCSP Responder` });
  const subject = new Name([...issuer.filter((rdn) => !rdn.some((a) => a.type === CN)), ...cn]);
  const spki = spkiDer(i.publicKey);
  const notAfter = Math.min(i.now.getTime() + i.validityDays * DAY, info.notAfter.getTime());
  return signEncoded({
    serial: randomSerial(i.random),
    subject: encode(subject),
    issuer: encode(issuer),
    notBefore: new Date(i.now.getTime() - BACKDATE_MS),
    notAfter: new Date(notAfter),
    spki,
    extensions: ocspResponderExtensions({ spki, issuerKeyId: keyIdentifier(certificateSpki(i.issuingCertDer)) }).map(encode),
  }, i.issuingSigner);
}
