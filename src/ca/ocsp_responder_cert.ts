/**
 * The delegated OCSP responder certificate (RFC 6960 4.2.2.2): issued by the issuing CA for a
 * key that only signs OCSP answers, so the CA key signs once a month instead of per answer.
 * Pure: key, signer and time come in.
 */
import { certificateSubject, encode, readCertificate, signEncoded } from "../pki/certificate.js";
import { spkiDer, type Signer } from "../pki/keys.js";
import { buildName, nameToString } from "../pki/names.js";
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

/** Signs `CN=<issuing CA CN> OCSP Responder, O=<organisation>`, never beyond the CA's own expiry. */
export async function issueOcspResponderCert(i: ResponderCertInput): Promise<Buffer> {
  const issuer = certificateSubject(i.issuingCertDer);
  const info = readCertificate(i.issuingCertDer);
  const org = /(?:^|, )O=([^,]+)/.exec(nameToString(issuer))?.[1];
  const spki = spkiDer(i.publicKey);
  const notAfter = Math.min(i.now.getTime() + i.validityDays * DAY, info.notAfter.getTime());
  return signEncoded({
    serial: randomSerial(i.random),
    subject: encode(buildName({ ...(org ? { organization: org } : {}), commonName: `${info.commonName ?? "Shomei"} OCSP Responder` })),
    issuer: encode(issuer),
    notBefore: new Date(i.now.getTime() - BACKDATE_MS),
    notAfter: new Date(notAfter),
    spki,
    extensions: ocspResponderExtensions({ spki, issuerKeyId: keyIdentifier(certificateSpki(i.issuingCertDer)) }).map(encode),
  }, i.issuingSigner);
}
