/**
 * Creating the two-tier hierarchy at `shomei-ca init`: a root CA, an issuing CA signed by it,
 * and the service's TLS certificate signed by the issuing CA. Pure: keys and time come in.
 */
import { buildName } from "../pki/names.js";
import { keyObjectSigner, spkiDer, type KeyPair, type Signer } from "../pki/keys.js";
import { caExtensions, keyIdentifier, serverExtensions, type PublicationUrls } from "../pki/profiles.js";
import { certificateSpki, certificateSubject, readCertificate, signCertificate } from "../pki/certificate.js";
import { buildCrl } from "../pki/crl.js";
import { randomSerial } from "../pki/serial.js";
import { ShomeiError } from "../i18n/errors.js";

const DAY = 86_400_000;

export interface HierarchyInput {
  readonly organization: string;
  readonly hostnames: readonly string[];
  readonly now: Date;
  readonly rootKey: KeyPair;
  readonly issuingKey: KeyPair;
  readonly tlsKey: KeyPair;
  readonly rootValidityDays?: number;
  readonly issuingValidityDays?: number;
  readonly tlsValidityDays?: number;
  readonly urls: PublicationUrls;
  /** Named in the issuing CA certificate: the ARL (crlUrl) and the root certificate (caIssuersUrl). */
  readonly issuingUrls?: PublicationUrls;
}

export interface Hierarchy {
  readonly rootDer: Buffer;
  readonly issuingDer: Buffer;
  readonly tlsDer: Buffer;
  /** The root's first ARL (DER), valid ARL_VALIDITY_DAYS. */
  readonly arlDer: Buffer;
}

/** The issuing CA's default validity. */
export const ISSUING_VALIDITY_DAYS = 10 * 365;

/**
 * How long an ARL (the root's CRL of the CAs it certifies) is valid. The root key is used only
 * by `shomei-ca init` and `shomei-ca ca reissue-issuing` / `ca sign-arl` (serve never opens it),
 * so the ARL is signed there, rarely, and long-lived: one year. serve warns a month before it
 * runs out; re-signing it is `shomei-ca ca sign-arl`.
 */
export const ARL_VALIDITY_DAYS = 365;

/** Backdating tolerates clocks a few minutes behind the CA's. */
export const BACKDATE_MS = 5 * 60_000;

export async function createHierarchy(i: HierarchyInput): Promise<Hierarchy> {
  const notBefore = new Date(i.now.getTime() - BACKDATE_MS);
  const rootName = buildName({ organization: i.organization, commonName: `${i.organization} Root CA` });
  const issuingName = buildName({ organization: i.organization, commonName: `${i.organization} Issuing CA 1` });
  const rootSpki = spkiDer(i.rootKey.publicKey);
  const issuingSpki = spkiDer(i.issuingKey.publicKey);
  const tlsSpki = spkiDer(i.tlsKey.publicKey);
  const rootKeyId = keyIdentifier(rootSpki);
  const issuingKeyId = keyIdentifier(issuingSpki);

  const rootDer = await signCertificate({
    serial: randomSerial(), subject: rootName, issuer: rootName, notBefore,
    notAfter: new Date(i.now.getTime() + (i.rootValidityDays ?? 20 * 365) * DAY),
    spki: rootSpki, extensions: caExtensions({ spki: rootSpki }),
  }, keyObjectSigner(i.rootKey.privateKey));

  const issuingDer = await signCertificate({
    serial: randomSerial(), subject: issuingName, issuer: rootName, notBefore,
    notAfter: new Date(i.now.getTime() + (i.issuingValidityDays ?? ISSUING_VALIDITY_DAYS) * DAY),
    spki: issuingSpki, extensions: caExtensions({ spki: issuingSpki, issuerKeyId: rootKeyId, pathLength: 0, ...(i.issuingUrls ? { urls: i.issuingUrls } : {}) }),
  }, keyObjectSigner(i.rootKey.privateKey));

  const tlsDer = await signCertificate({
    serial: randomSerial(),
    subject: buildName({ organization: i.organization, commonName: i.hostnames[0] ?? "localhost" }),
    issuer: issuingName, notBefore,
    notAfter: new Date(i.now.getTime() + (i.tlsValidityDays ?? 397) * DAY),
    spki: tlsSpki,
    extensions: serverExtensions({ spki: tlsSpki, keyKind: i.tlsKey.kind, issuerKeyId: issuingKeyId, hostnames: i.hostnames, urls: i.urls }),
  }, keyObjectSigner(i.issuingKey.privateKey));

  const arlDer = await signArl({ rootDer, rootSigner: keyObjectSigner(i.rootKey.privateKey), now: i.now });
  return { rootDer, issuingDer, tlsDer, arlDer };
}

/**
 * The root's ARL: a CRL signed by the root key listing the CA certificates it revoked. Shomei
 * never revokes its issuing CA (a reissue keeps the key), so it has no entries; what matters is
 * that it exists, is signed by the root and is current. The CRL number is the signing time in
 * milliseconds, like the issuing CA's CRLs (it grows without being stored).
 */
export async function signArl(i: { rootDer: Buffer; rootSigner: Signer; now: Date; validityDays?: number }): Promise<Buffer> {
  const thisUpdate = new Date(Math.floor(i.now.getTime() / 1000) * 1000);
  const nextUpdate = new Date(thisUpdate.getTime() + (i.validityDays ?? ARL_VALIDITY_DAYS) * DAY);
  return buildCrl({ issuerDer: i.rootDer, signer: i.rootSigner, thisUpdate, nextUpdate, crlNumber: BigInt(i.now.getTime()), entries: [] });
}

export interface ReissueInput {
  readonly rootDer: Buffer;
  readonly rootSigner: Signer;
  /** The issuing CA certificate in use: its subject and key are kept. */
  readonly issuingDer: Buffer;
  readonly now: Date;
  readonly urls: PublicationUrls;
  readonly validityDays?: number;
}

/**
 * A new issuing CA certificate for the same key and the same subject (byte for byte), with the
 * current profile's extensions: certificates issued under the old one verify with the new one
 * and the other way round. New serial; validity from now as the profile says, never beyond the
 * root's. ROOT_CA_EXPIRED when the root has run out (nothing can be reissued under it).
 */
export async function reissueIssuing(i: ReissueInput): Promise<Buffer> {
  const root = readCertificate(i.rootDer);
  if (root.notAfter.getTime() <= i.now.getTime()) throw new ShomeiError("ROOT_CA_EXPIRED", { notAfter: root.notAfter.toISOString() });
  const spki = certificateSpki(i.issuingDer);
  const wanted = i.now.getTime() + (i.validityDays ?? ISSUING_VALIDITY_DAYS) * DAY;
  return signCertificate({
    serial: randomSerial(), subject: certificateSubject(i.issuingDer), issuer: certificateSubject(i.rootDer),
    notBefore: new Date(i.now.getTime() - BACKDATE_MS), notAfter: new Date(Math.min(wanted, root.notAfter.getTime())),
    spki, extensions: caExtensions({ spki, issuerKeyId: keyIdentifier(certificateSpki(i.rootDer)), pathLength: 0, urls: i.urls }),
  }, i.rootSigner);
}
