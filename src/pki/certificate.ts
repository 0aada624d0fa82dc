/**
 * Building and signing X.509 v3 certificates from asn1-x509 objects, and reading them back.
 * The builder is the hot path of issuance: it encodes the TBSCertificate once and signs it.
 */
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, type Extension, type Name } from "@peculiar/asn1-x509";
import { assembleCertificate, assembleTbs, type TbsParts } from "./assemble.js";
import { ShomeiError } from "../i18n/errors.js";
import type { KeyKind, Signer } from "./keys.js";
import { checkSpki, classifySpki } from "./spki.js";
import { nameToString, commonNameOf } from "./names.js";
import { fingerprint } from "./fingerprint.js";
import { x509 } from "./x509lib.js";

export interface CertificateTemplate {
  readonly serial: Uint8Array;
  readonly subject: Name;
  readonly issuer: Name;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SubjectPublicKeyInfo DER of the subject's key. */
  readonly spki: Uint8Array;
  readonly extensions: readonly Extension[];
}

/** DER of an asn1-schema object. */
export function encode(value: unknown): Buffer {
  return Buffer.from(AsnConvert.serialize(value));
}

/** The encoded parts of a certificate still to be signed. */
export type EncodedTemplate = Omit<TbsParts, "signatureAlgorithm">;

/** Signs already-encoded parts (the issuance hot path: fixed parts are encoded once). */
export async function signEncoded(parts: EncodedTemplate, signer: Signer, signatureAlgorithm: Uint8Array = encode(signer.algorithm)): Promise<Buffer> {
  const tbs = assembleTbs({ ...parts, signatureAlgorithm });
  return assembleCertificate(tbs, signatureAlgorithm, await signer.sign(tbs));
}

/** Encodes the template, signs it with the issuer's signer and returns the certificate DER. */
export async function signCertificate(t: CertificateTemplate, signer: Signer): Promise<Buffer> {
  return signEncoded({
    serial: t.serial, issuer: encode(t.issuer), notBefore: t.notBefore, notAfter: t.notAfter,
    subject: encode(t.subject), spki: t.spki, extensions: t.extensions.map(encode),
  }, signer);
}

/** What Shomei needs to know about a certificate, read from its DER. */
export interface CertificateInfo {
  readonly der: Buffer;
  readonly serialHex: string;
  readonly subject: string;
  readonly issuer: string;
  readonly commonName: string | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly fingerprint: string;
  readonly isCa: boolean;
  readonly selfSigned: boolean;
  /** The subject key's kind; undefined for a well-formed key of a kind Shomei does not use. */
  readonly keyKind: KeyKind | undefined;
}

/**
 * Parses a DER certificate, or throws BAD_DER (not a certificate, or names that cannot be
 * decoded) or KEY_INVALID (its key is broken: an empty or off-curve EC point, a malformed RSA
 * key…). A well-formed key of a kind Shomei does not use is allowed here (keyKind undefined:
 * certificates of other CAs are read to be named); whatever loads a key checks it strictly.
 */
export function readCertificate(der: Uint8Array): CertificateInfo {
  let cert: Certificate;
  let x: InstanceType<typeof x509.X509Certificate>;
  let subject: string;
  let issuer: string;
  let commonName: string | undefined;
  let spki: Buffer;
  let selfSigned: boolean;
  try {
    cert = AsnConvert.parse(der, Certificate);
    subject = nameToString(cert.tbsCertificate.subject);
    issuer = nameToString(cert.tbsCertificate.issuer);
    commonName = commonNameOf(cert.tbsCertificate.subject);
    spki = Buffer.from(AsnConvert.serialize(cert.tbsCertificate.subjectPublicKeyInfo));
    // Re-encoding a name can fail on values that parsed (a UTCTime that is no time): keep it in here.
    selfSigned = Buffer.from(AsnConvert.serialize(cert.tbsCertificate.subject)).equals(Buffer.from(AsnConvert.serialize(cert.tbsCertificate.issuer)));
    x = new x509.X509Certificate(new Uint8Array(der));
  } catch (e) {
    throw new ShomeiError("BAD_DER", { what: "certificate" }, { cause: e });
  }
  const keyKind = classifySpki(spki);
  const tbs = cert.tbsCertificate;
  let isCa: boolean;
  try {
    isCa = x.getExtension(x509.BasicConstraintsExtension)?.ca ?? false;
  } catch (e) {
    throw new ShomeiError("BAD_DER", { what: "certificate" }, { cause: e });
  }
  return {
    der: Buffer.from(der),
    serialHex: Buffer.from(tbs.serialNumber).toString("hex").replace(/^00(?=[89a-f])/, ""),
    subject,
    issuer,
    commonName,
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    fingerprint: fingerprint(der),
    isCa,
    selfSigned,
    keyKind,
  };
}

/**
 * True when `cert` carries a valid signature by `issuer`'s key (names are not compared).
 * The issuer's key is checked on its DER bytes first; anything unreadable is simply false.
 */
export async function isSignedBy(certDer: Uint8Array, issuerDer: Uint8Array): Promise<boolean> {
  try {
    checkSpki(certificateSpki(issuerDer));
    const cert = new x509.X509Certificate(new Uint8Array(certDer));
    const issuer = new x509.X509Certificate(new Uint8Array(issuerDer));
    return await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}

/** SubjectPublicKeyInfo DER of a certificate (as encoded there, not checked), or BAD_DER. */
export function certificateSpki(der: Uint8Array): Buffer {
  try {
    const cert = AsnConvert.parse(der, Certificate);
    return Buffer.from(AsnConvert.serialize(cert.tbsCertificate.subjectPublicKeyInfo));
  } catch (e) {
    throw new ShomeiError("BAD_DER", { what: "certificate" }, { cause: e });
  }
}

/** The subject Name object of a certificate (to use as the issuer of what it signs). */
export function certificateSubject(der: Uint8Array): Name {
  try {
    return AsnConvert.parse(der, Certificate).tbsCertificate.subject;
  } catch (e) {
    throw new ShomeiError("BAD_DER", { what: "certificate" }, { cause: e });
  }
}
